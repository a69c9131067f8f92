#!/usr/bin/env perl
# Writes an httpd configuration on stdout with t/lib/MxhrConf.pm, the one
# writer of httpd configs for the tests, the demo and the benchmarks:
# for the shell scripts (scripts/private-httpd.sh, scripts/apache-test.sh,
# bench/lib.sh).
#
#   httpd-conf.pl --dir DIR --port PORT [--mpm event] [--pool k=v,...]
#       [--load mod,...] [--load-after mod,...] [--so PATH] [--http2]
#       [--server-name NAME] [--backlog N] [--timeout S] [--types]
#       [--status] [--error-log PATH] [--log-level LEVELS]
#       [--access-log PATH --log-format FORMAT] [--docroot DIR]
#       [--ssl-port PORT] [--redis URL [--redis-timeout T]]
#       [--extra FILE|-]                 a whole httpd.conf
#   httpd-conf.pl --part modules [--mpm M] [--load ...] [--so PATH] [--http2]
#       [--types]                        only the LoadModule lines (and
#                                        TypesConfig)
#   httpd-conf.pl --part pool --mpm M --pool k=v,...
#                                        only the pool's directives
# Pool keys as MxhrConf::pool: children, threads, limit, min_spare,
# max_spare, workers, factor, buckets, max_conns.
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Getopt::Long qw(GetOptions);
use MxhrConf ();

my %o = (part => 'all', mpm => 'event');
GetOptions(\%o, 'part=s', 'dir=s', 'port=i', 'mpm=s', 'pool=s', 'load=s',
           'load-after=s', 'so=s', 'src=s', 'http2', 'server-name=s',
           'backlog=i', 'timeout=i', 'types', 'status', 'error-log=s',
           'log-level=s', 'access-log=s', 'log-format=s', 'docroot=s',
           'ssl-port=i', 'redis=s', 'redis-timeout=s', 'extra=s')
    or die "usage: see the head of $0\n";
@ARGV and die "httpd-conf.pl: unexpected arguments: @ARGV\n";

my %pool;
for my $kv (split /,/, $o{pool} // '') {
    my ($k, $v) = $kv =~ /\A(\w+)=(\d+)\z/
        or die "httpd-conf.pl: --pool takes key=number,...: '$kv'\n";
    $pool{$k} = $v;
}
my @list = map { [ split /,/, $o{$_} // '' ] } qw(load load-after);
my %mods = (mpm => $o{mpm}, load => $list[0], load_after => $list[1],
            http2 => $o{http2},
            map { defined $o{$_} ? ($_ => $o{$_}) : () } qw(so src));

if ($o{part} eq 'modules') {
    print MxhrConf::load_modules(%mods);
    print "TypesConfig /etc/mime.types\n" if $o{types};
} elsif ($o{part} eq 'pool') {
    print MxhrConf::pool($o{mpm}, %pool);
} elsif ($o{part} eq 'all') {
    defined $o{dir} or die "httpd-conf.pl: --dir is needed\n";
    my $extra = '';
    if (defined $o{extra}) {
        my $fh;
        if ($o{extra} eq '-') { $fh = \*STDIN }
        else { open $fh, '<', $o{extra} or die "httpd-conf.pl: $o{extra}: $!\n" }
        local $/;
        $extra = <$fh> // '';
    }
    my %map = ('server-name' => 'server_name', 'error-log' => 'error_log',
               'log-level' => 'log_level', 'access-log' => 'access_log',
               'log-format' => 'log_format', 'ssl-port' => 'ssl_port');
    my %c = (%mods, dir => $o{dir}, extra => $extra,
             (%pool ? (pool => \%pool) : ()),
             ($o{redis} ? (redis => { url => $o{redis},
                                      timeout => $o{'redis-timeout'} }) : ()),
             map { defined $o{$_} ? (($map{$_} // $_) => $o{$_}) : () }
                 qw(port server-name backlog timeout types status error-log
                    log-level access-log log-format docroot ssl-port));
    print MxhrConf::httpd_conf(%c);
} else {
    die "httpd-conf.pl: --part is modules, pool or all\n";
}
