#!/usr/bin/env perl
# What the README tells an admin, done for real on this machine (as
# root): make install, a2enmod mxhr, apache2ctl configtest, a request to
# the system's httpd (its binary, its /etc/apache2 modules) on a high
# loopback port; then everything undone. Run with: prove t/system/install.pl
use strict;
use warnings FATAL => 'all';
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrConf ();

plan skip_all => 'needs root (it installs into the system)' if $> != 0;
plan tests => 21;

my $src = "$FindBin::Bin/../..";
my $etc = '/etc/apache2';
# Where make install puts it: httpd's module directory, as apxs says.
my $so = MxhrConf::modules_dir() . '/mod_mxhr.so';
# configure's default prefix; make install puts the page there.
my $htdocs = '/usr/local/share/mod_mxhr/htdocs';
my %was = (
    enabled   => -e "$etc/mods-enabled/mxhr.load",
    installed => -e $so,
);
# Keep what was there, to put it back exactly.
my $keep = tempdir(CLEANUP => 1);
system("cp -a $so $etc/mods-available/mxhr.load $etc/mods-available/mxhr.conf "
       . "$keep/ 2>/dev/null") if $was{installed};

sub run { my $out = `$_[0] 2>&1`; return ($? >> 8, $out) }

my ($rc, $out) = run("make -C $src install");
is $rc, 0, 'make install' or diag $out;
ok -f $so, "module installed at $so";
ok -f "$etc/mods-available/mxhr.load" && -f "$etc/mods-available/mxhr.conf",
   'mxhr.load and mxhr.conf in mods-available';
ok -f "$htdocs/index.html" && -f "$htdocs/mxhr.js" && -f "$htdocs/mxhr.mjs",
   "the demo page and client in $htdocs";

($rc, $out) = run('a2enmod mxhr');
is $rc, 0, 'a2enmod mxhr' or diag $out;
ok -e "$etc/mods-enabled/mxhr.load", 'mods-enabled/mxhr.load';

($rc, $out) = run('apache2ctl configtest');
is $rc, 0, 'apache2ctl configtest' or diag $out;
like $out, qr/Syntax OK/, 'Syntax OK';

# The system's httpd with the system's enabled modules, on its own port,
# pid file and logs, so that nothing else on the machine is touched.
my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
mkdir "$dir/htdocs";
chmod 0755, "$dir/htdocs";
my $port;
for (1 .. 50) {
    my $p = 20000 + int rand 20000;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p,
                                  Listen => 1, ReuseAddr => 1) or next;
    close $l;
    $port = $p;
    last;
}
open my $fh, '>', "$dir/httpd.conf" or die $!;
print $fh <<"CONF";
ServerRoot $etc
ServerName localhost
DefaultRuntimeDir $dir
PidFile $dir/httpd.pid
Mutex file:$dir default
User www-data
Group www-data
ErrorLog $dir/error.log
LogLevel warn mxhr:debug
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Listen 127.0.0.1:$port
DocumentRoot $dir/htdocs
<Location /mxhr-stream>
    SetHandler mxhr-stream
    MxhrInterval 200ms
    MxhrMaxSections 3
</Location>
# As conf/mxhr.conf's example: the installed page with its stream.
Alias /mxhr-demo $htdocs
<Directory $htdocs>
    Require all granted
</Directory>
<Location /mxhr-demo/mxhr-stream>
    SetHandler mxhr-stream
    MxhrInterval 200ms
    MxhrMaxSections 2
</Location>
CONF
close $fh;
my $httpd = '. /etc/apache2/envvars && /usr/sbin/apache2';
($rc, $out) = run("$httpd -d $etc -f $dir/httpd.conf -k start");
is $rc, 0, "system httpd starts on 127.0.0.1:$port" or diag $out;
my $pid;
for (1 .. 50) {
    if (open my $pf, '<', "$dir/httpd.pid") {
        $pid = <$pf>;
        last if $pid;
    }
    select undef, undef, undef, 0.1;
}
chomp $pid if $pid;
my $res = `curl -s -i --max-time 10 http://127.0.0.1:$port/mxhr-stream`;
my ($head, $body) = split /\r\n\r\n/, $res, 2;
like $head // '', qr{^HTTP/1\.1 200}, 'the stream answers 200';
my ($ct) = ($head // '') =~ /^Content-Type:\s*(.+?)\r?$/mi;
like $ct // '', qr{^multipart/x-mixed-replace; boundary="mxhr[0-9a-f]{32}"},
     'with a random boundary';
require MxhrTest;
my @parts = eval { MxhrTest::parse_multipart($ct, $body // '') };
is scalar @parts, 3, 'three parts, as configured';
like $body // '', qr/--\r\n\z/, 'closed with the closing delimiter';

# The installed demo page, its client, and the stream beside it.
my $page = `curl -s --max-time 5 http://127.0.0.1:$port/mxhr-demo/`;
like $page, qr/<script src="mxhr\.js"><\/script>/, 'the installed demo page is served';
my $js = `curl -s --max-time 5 http://127.0.0.1:$port/mxhr-demo/mxhr.js`;
like $js, qr/MxhrMultipartParser/, 'and its client';
my $demo = `curl -s --max-time 5 -H 'Accept: multipart/mixed' http://127.0.0.1:$port/mxhr-demo/mxhr-stream`;
like $demo, qr/Mxhr-Seq: 2\r\n.*--\r\n\z/s, 'and the stream it reads, beside it';

if ($pid) {
    kill 'TERM', $pid;
    for (1 .. 50) { last unless kill 0, $pid; select undef, undef, undef, 0.1 }
}
ok !($pid && kill 0, $pid), 'the private httpd stopped';

# Undo.
if (!$was{enabled}) {
    ($rc, $out) = run('a2dismod -q mxhr');
    is $rc, 0, 'a2dismod mxhr' or diag $out;
}
else {
    pass 'mxhr was enabled before: left enabled';
}
if ($was{installed}) {
    system("cp -a $keep/mod_mxhr.so " . MxhrConf::modules_dir() . "/ && "
           . "cp -a $keep/mxhr.load $keep/mxhr.conf $etc/mods-available/");
    pass 'the earlier install is put back';
}
else {
    ($rc, $out) = run("make -C $src uninstall");
    is $rc, 0, 'make uninstall' or diag $out;
}
ok $was{installed} || (!-e $so && !-e "$etc/mods-available/mxhr.load"
                       && !-e $htdocs),
   'the module files are gone again';
($rc, $out) = run('apache2ctl configtest');
is $rc, 0, 'the system configuration is valid afterwards' or diag $out;
