package MxhrConf;
# The one writer of httpd configurations for mod_mxhr's tests, demo and
# benchmarks: private servers (t/lib/MxhrServer.pm, t/40_badconfig.t,
# scripts/private-httpd.sh, bench/lib.sh) and the module list and worker
# pool of the Apache::Test server (scripts/apache-test.sh). Bash callers
# use it through scripts/httpd-conf.pl.
#
# Where httpd keeps its modules comes from apxs (LIBEXECDIR), never from
# a path written here: the tree builds against whatever httpd apxs names.
#
#   MxhrConf::httpd_conf(dir => $d, port => $p, mpm => 'event',
#       pool => { children => 2, threads => 10 }, load => ['status'],
#       http2 => 1, ssl_port => $p2, redis => { url => $u, timeout => 1 },
#       extra => "<Location /s>...")      a whole httpd.conf, as text
#   MxhrConf::load_modules(mpm => ..., load => [...], so => ...)
#                                         only the LoadModule lines
#   MxhrConf::pool($mpm, %sizes)          only the MPM's pool directives
#   MxhrConf::modules_dir()               apxs -q LIBEXECDIR
use strict;
use warnings FATAL => 'all';
use File::Basename qw(dirname);
use Cwd qw(abs_path);

# The source tree: $MXHR_SRC (the test scripts' copy), else the tree
# this file belongs to (t/lib/..).
sub src_dir {
    return $ENV{MXHR_SRC} if $ENV{MXHR_SRC};
    return abs_path(dirname(__FILE__) . '/../..');
}

my $mods_dir;
sub modules_dir {
    return $mods_dir if defined $mods_dir;
    for my $apxs (grep { defined && length } $ENV{APXS}, 'apxs', 'apxs2') {
        my $d = `$apxs -q LIBEXECDIR 2>/dev/null`;
        next if $? || !defined $d;
        chomp $d;
        return $mods_dir = $d if length $d && -d $d;
    }
    die "MxhrConf: apxs -q LIBEXECDIR named no module directory"
        . " (install apache2-dev, or set APXS)\n";
}

# LoadModule lines, in this order (the order of hooks of equal rank):
# the MPM, authz_core (Require), the modules named in load (mod_NAME.so
# from httpd's directory), mod_mxhr (so: its path, default the tree's
# .libs/mod_mxhr.so; so => '' leaves it out), http2 when asked, the
# modules named in load_after, then the tree's test modules (test_so).
sub load_modules {
    my %o = @_;
    my $mods = modules_dir();
    my $src = $o{src} // src_dir();
    my %seen;
    my $lines = sub {
        join '', map { "LoadModule ${_}_module $mods/mod_$_.so\n" }
                 grep { !$seen{$_}++ } @_;
    };
    my $out = $lines->(($o{mpm} ? "mpm_$o{mpm}" : ()),
                       ($o{no_authz} ? () : 'authz_core'), @{ $o{load} || [] });
    my $so = $o{so} // "$src/.libs/mod_mxhr.so";
    $out .= "LoadModule mxhr_module $so\n" if length $so;
    $out .= $lines->(($o{http2} ? 'http2' : ()), @{ $o{load_after} || [] });
    $out .= join '', map { "LoadModule ${_}_module $src/t/modules/.libs/mod_$_.so\n" }
                     @{ $o{test_so} || [] };
    return $out;
}

# The worker pool of an MPM. Threaded MPMs (event, worker):
#   children   StartServers (default 1)
#   threads    ThreadsPerChild (default 25)
#   limit      ServerLimit (default children): room for a new generation
#   min_spare  MinSpareThreads (default 1: with every child started
#              there is none to add, and more only makes httpd log
#              AH10159/AH00287 "within MinSpareThreads" at error level
#              whenever a thread is busy)
#   max_spare  MaxSpareThreads (default children x threads)
#   workers    MaxRequestWorkers (default limit x threads)
#   factor     AsyncRequestWorkerFactor (event only; default httpd's)
#   buckets    ListenCoresBucketsRatio (event only)
# prefork, only what is given:
#   children StartServers, min_spare MinSpareServers, max_spare
#   MaxSpareServers, limit ServerLimit, workers MaxRequestWorkers
#   (default limit)
# Both: max_conns MaxConnectionsPerChild.
sub pool {
    my ($mpm, %o) = @_;
    my $conf = '';
    if ($mpm eq 'prefork') {
        my $workers = $o{workers} // $o{limit};
        $conf .= "StartServers $o{children}\n" if defined $o{children};
        $conf .= "MinSpareServers $o{min_spare}\n" if defined $o{min_spare};
        $conf .= "MaxSpareServers $o{max_spare}\n" if defined $o{max_spare};
        $conf .= "ServerLimit $o{limit}\n" if defined $o{limit};
        $conf .= "MaxRequestWorkers $workers\n" if defined $workers;
    } elsif ($mpm eq 'event' || $mpm eq 'worker') {
        my $children = $o{children} // 1;
        my $threads = $o{threads} // 25;
        my $limit = $o{limit} // $children;
        $conf .= "ServerLimit $limit\nStartServers $children\n"
               . "ThreadsPerChild $threads\n"
               . "MinSpareThreads " . ($o{min_spare} // 1) . "\n"
               . "MaxSpareThreads " . ($o{max_spare} // $children * $threads) . "\n"
               . "MaxRequestWorkers " . ($o{workers} // $limit * $threads) . "\n";
        if ($mpm eq 'event') {
            $conf .= "AsyncRequestWorkerFactor $o{factor}\n" if $o{factor};
            $conf .= "ListenCoresBucketsRatio $o{buckets}\n" if $o{buckets};
        }
    } else {
        die "MxhrConf: no MPM '$mpm' (event, worker or prefork)\n";
    }
    $conf .= "MaxConnectionsPerChild $o{max_conns}\n" if defined $o{max_conns};
    return $conf;
}

# TLS on 127.0.0.1:PORT, with a self-signed certificate for localhost
# made in DIR (valid one day).
sub tls {
    my %o = @_;
    my ($dir, $port) = @o{qw(dir port)};
    my $mods = modules_dir();
    system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
           . "-subj /CN=localhost -keyout $dir/key.pem "
           . "-out $dir/cert.pem >/dev/null 2>&1") == 0
        or die "MxhrConf: openssl could not make a certificate\n";
    chmod 0644, "$dir/key.pem";
    return <<"SSL";
LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so
LoadModule ssl_module $mods/mod_ssl.so
Listen 127.0.0.1:$port https
SSLSessionCache shmcb:$dir/ssl_scache(512000)
<VirtualHost 127.0.0.1:$port>
    SSLEngine on
    SSLCertificateFile $dir/cert.pem
    SSLCertificateKeyFile $dir/key.pem
</VirtualHost>
SSL
}

# Redis mode: the server's URL and how long to wait for it.
sub redis {
    my %o = @_;
    my $out = "MxhrRedis $o{url}\n";
    $out .= "MxhrRedisTimeout $o{timeout}\n" if defined $o{timeout};
    return $out;
}

# A whole httpd.conf for a private server in DIR (its ServerRoot, run
# and PID files, and by default its error log and DocumentRoot):
#   port        Listen 127.0.0.1:PORT
#   mpm         event (default), worker or prefork
#   pool        { sizes } for pool() (none: httpd's defaults)
#   load, load_after, so, test_so   modules, as load_modules()
#   server_name ServerName (default localhost)
#   backlog     ListenBacklog
#   error_log   (default DIR/error_log); log_level (default info mxhr:debug)
#   access_log, log_format   a CustomLog with this LogFormat
#   docroot     DocumentRoot (default DIR)
#   types       TypesConfig /etc/mime.types (with mime_module in load)
#   timeout     Timeout
#   status      a /server-status location (with status in load)
#   http2       mod_http2 and h2c
#   ssl_port    TLS on that port, certificate in DIR
#   redis       { url, timeout }
#   extra       directives appended as they are
# As root the children run as www-data.
sub httpd_conf {
    my %o = @_;
    my $dir = $o{dir} or die "MxhrConf: httpd_conf needs dir\n";
    my $mpm = $o{mpm} || 'event';
    my $user = exists $o{user} ? $o{user} : ($> == 0 ? 'www-data' : undef);
    my $c = "ServerRoot $dir\n"
          . "ServerName " . ($o{server_name} // 'localhost') . "\n"
          . "DefaultRuntimeDir $dir\n"
          . "PidFile $dir/httpd.pid\n"
          . "Mutex file:$dir default\n";
    $c .= "User $user\nGroup $user\n" if defined $user;
    $c .= "Listen 127.0.0.1:$o{port}\n" if defined $o{port};
    $c .= "ListenBacklog $o{backlog}\n" if defined $o{backlog};
    $c .= load_modules(mpm => $mpm, map { exists $o{$_} ? ($_ => $o{$_}) : () }
                                        qw(load load_after so test_so src http2));
    # HTTP/2 (mod_http2 among the modules): cleartext h2 beside HTTP/1.1.
    $c .= "Protocols h2c http/1.1\n" if $o{http2};
    $c .= "TypesConfig /etc/mime.types\n" if $o{types};
    $c .= "ErrorLog " . ($o{error_log} // "$dir/error_log") . "\n"
        . "LogLevel " . ($o{log_level} // 'info mxhr:debug') . "\n";
    if ($o{access_log}) {
        $c .= "LogFormat \"$o{log_format}\" private\n"
            . "CustomLog $o{access_log} private\n";
    }
    $c .= "DocumentRoot " . ($o{docroot} // $dir) . "\n";
    # As Debian's apache2.conf has it (and httpd's default): no
    # .htaccess lookups per request.
    $c .= "<Directory />\n    AllowOverride None\n</Directory>\n";
    $c .= "Timeout $o{timeout}\n" if defined $o{timeout};
    # A graceful stop (how the tests stop their servers) waits this long
    # for the children, then stops them as SIGTERM does.
    $c .= "GracefulShutdownTimeout 5\n";
    $c .= pool($mpm, %{ $o{pool} }) if $o{pool};
    $c .= "<Location /server-status>\n    SetHandler server-status\n</Location>\n"
        if $o{status};
    $c .= redis(%{ $o{redis} }) if $o{redis};
    $c .= $o{extra} if defined $o{extra};
    $c .= "\n" unless $c =~ /\n\z/;
    $c .= tls(dir => $dir, port => $o{ssl_port}) if $o{ssl_port};
    return $c;
}

# apache2 -t on MxhrConf's head (in dir, loading the module so) and one
# directive line, in a <Location> or not: apache2's exit code, its
# output, and the line number an error about it must name. For the
# tests of bad directives.
sub check_line {
    my (%o) = @_;
    my $dir = $o{dir};
    my $conf = "$dir/mxhr-check.conf";
    my $head = httpd_conf(dir => $dir, port => 1, so => $o{so},
                          log_level => 'warn');
    my $body = $o{in_location}
        ? "<Location /s>\n    SetHandler mxhr-stream\n    $o{line}\n</Location>\n"
        : "$o{line}\n";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh $head, $body;
    close $fh;
    my $lineno = ($head =~ tr/\n//) + ($o{in_location} ? 3 : 1);
    my $out = `/usr/sbin/apache2 -t -f $conf 2>&1`;
    return ($? >> 8, $out, $lineno);
}

1;
