package MxhrServer;
# A private httpd for tests that need a configuration of their own (MPM,
# thread counts, AsyncRequestWorkerFactor), and a reader for many
# streams at once. Its configuration is written by MxhrConf. Stopped
# only by the PID it wrote; when it stops, its error log is checked
# (MxhrLogCheck): an error line or a child that died of a signal that
# the test did not declare (expect_errors) fails the test.
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use File::Copy ();
use IO::Socket::INET ();
use IO::Select ();
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);

use Scalar::Util qw(weaken);
use Test::Builder ();
use MxhrConf ();
use MxhrLogCheck ();

# Servers started and not yet stopped, by address (weak references).
my %LIVE;

# Interrupted tests still stop the servers they started (DESTROY).
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# MxhrServer->start(mpm => 'event', conf => "directives...", ...):
#   pool => { children => 2, threads => 10, ... }   the MPM's pool, as
#           MxhrConf::pool (or a pool string at the head of conf)
#   load => ['reqtimeout']       httpd's modules by name
#   test_so => ['mxhr_test']     the tree's test modules
#   http2 => 1, ssl => 1 (TLS on ssl_port), redis => { url, timeout }
#   expect_errors => [qr/.../, 'text', ...]   error-log lines this test
#           provokes on purpose (see stop and MxhrLogCheck)
# The configuration is MxhrConf's.
sub start {
    my ($class, %o) = @_;
    my $src = $ENV{MXHR_SRC} || '.';
    my $mpm = $o{mpm} || 'event';
    my $dir = tempdir(CLEANUP => 1);
    chmod 0755, $dir;
    my $port = free_port();
    my $so = "$src/.libs/mod_mxhr.so";
    -f $so or die "no module at $so";
    my $ssl_port = $o{ssl} ? free_port() : undef;
    my $conf = MxhrConf::httpd_conf(
        dir => $dir, port => $port, mpm => $mpm, src => $src, so => $so,
        load => ['status'], load_after => $o{load}, test_so => $o{test_so},
        http2 => $o{http2}, timeout => 10, status => 1,
        ($o{pool} ? (pool => $o{pool}) : ()),
        ($o{redis} ? (redis => $o{redis}) : ()),
        extra => $o{conf} // '', ssl_port => $ssl_port);
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh $conf;
    close $fh;
    my $self = bless { dir => $dir, port => $port, mpm => $mpm,
                       ssl_port => $ssl_port, owner => $$,
                       expect => [ @{ $o{expect_errors} || [] } ] }, $class;
    my $out = `/usr/sbin/apache2 -d $dir -f $dir/httpd.conf -k start 2>&1`;
    die "httpd did not start: $out" if $?;
    # httpd binds its port before it detaches and writes its PID file:
    # wait for both, or there would be no PID to stop it by.
    for (1 .. 100) {
        my $pid = $self->pid;
        my $s = $pid && kill(0, $pid)
            && IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
        if ($s) {
            close $s;
            $self->{pid} = $pid;
            $LIVE{"$self"} = $self;
            weaken $LIVE{"$self"};
            return $self;
        }
        sleep 0.05;
    }
    die "httpd not listening on $port: " . $self->error_log;
}

# The worker pool of an event-MPM test server: children that never
# change, threads, AsyncRequestWorkerFactor (omitted: the default), and
# a limit on children above those started (room for a restart).
# MxhrConf::pool writes it; the start option pool => {...} is the same.
sub event_pool {
    my %o = (children => 1, threads => 25, @_);
    return MxhrConf::pool('event', %o);
}

# Error-log lines this test provokes on purpose (crashes it causes, bad
# requests, an outage): patterns as MxhrLogCheck takes them.
sub expect_errors {
    my ($self, @patterns) = @_;
    push @{ $self->{expect} }, @patterns;
    return $self;
}

# httpd's word that a pool is full: AH00484, AH00161, AH00286 "server
# reached MaxRequestWorkers", AH00287 "within MinSpareThreads of
# MaxRequestWorkers", AH00485 "scoreboard is full". A test whose pool
# fills on purpose declares it.
sub pool_full {
    qr/server reached MaxRequestWorkers setting|server is within MinSpareThreads of MaxRequestWorkers|scoreboard is full, not at MaxRequestWorkers/;
}

# pool_full under worker and prefork, where every stream holds a thread
# or a process of the tests' small pools; nothing under event, whose
# streams hold no worker: there a full pool is a fault.
sub blocking_pool_full {
    my $mpm = shift;
    return $mpm eq 'event' ? () : (pool_full());
}

# The error log's lines that stop would fail the test for, so far.
sub unexpected_errors {
    my $self = shift;
    return MxhrLogCheck::unexpected($self->error_log, @{ $self->{expect} });
}

sub port { $_[0]{port} }
sub ssl_port { $_[0]{ssl_port} }
sub dir  { $_[0]{dir} }

sub pid {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/httpd.pid" or return 0;
    my $pid = <$fh> // 0;
    chomp $pid;
    return $pid;
}

sub error_log {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/error_log" or return '';
    local $/;
    return <$fh> // '';
}

# Each child's peak resident memory (VmHWM), in bytes, by PID.
sub peak_memory {
    my $self = shift;
    my %m;
    for my $pid ($self->children) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) {
            $m{$pid} = $1 * 1024 if /^VmHWM:\s+(\d+)\s+kB/;
        }
    }
    return \%m;
}

# The children of our httpd, from /proc.
sub children {
    my $self = shift;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*?\) \S (\d+)/ or next;
        push @kids, $pid if $ppid == $self->{pid};
    }
    return @kids;
}

sub status {
    my $self = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 5)
        or return {};
    print $s "GET /server-status?auto HTTP/1.0\r\nHost: x\r\n\r\n";
    # A child at its connection cap may not answer: do not hang on it.
    my $r = '';
    my $sel = IO::Select->new($s);
    my $end = time + ($_[0] // 5);
    while ($sel->can_read($end - time > 0 ? $end - time : 0)) {
        sysread($s, my $buf, 65536) or last;
        $r .= $buf;
    }
    return { $r =~ /^(\w+): (\S+)\r?$/mg };
}

# /server-status?auto without waiting for the answer, for tests that
# must keep reading their streams meanwhile (a blocked server may take
# seconds to answer): $h = $srv->status_begin; later
# $srv->status_end($h) returns the counters once the answer is complete
# (the server closed), or undef until then.
sub status_begin {
    my $self = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 5)
        or return undef;
    syswrite $s, "GET /server-status?auto HTTP/1.0\r\nHost: x\r\n\r\n";
    $s->blocking(0);
    return { sock => $s, buf => '', t0 => time };
}

sub status_end {
    my ($self, $h) = @_;
    return {} unless $h;
    while (1) {
        my $n = sysread $h->{sock}, my $buf, 65536;
        return undef if !defined $n;          # nothing yet
        if ($n == 0) {
            close $h->{sock};
            return { $h->{buf} =~ /^(\w+): (\S+)\r?$/mg };
        }
        $h->{buf} .= $buf;
    }
}

# A graceful stop of our httpd (SIGWINCH: "apache2 -k graceful-stop"),
# and wait until it has gone (SIGTERM after GracefulShutdownTimeout);
# then its error log is checked (MxhrLogCheck): a line at level error or
# worse, or a child that died of a signal, that the test did not declare
# it expects fails the test. Only in the process that started it (not a
# forked child).
#
# Not SIGTERM: httpd 2.4.71's event MPM has a race of its own at an
# ungraceful stop. The child's main thread closes the sockets of its
# busy workers (close_worker_sockets()) while a worker may be
# destroying that connection's pool, socket and all, and the child dies
# of SIGSEGV (AH00052). It happens without any stream (plain 404s whose
# clients hang up as the stop begins); a graceful stop does not close
# the workers' sockets under them.
sub stop {
    my $self = shift;
    return unless ($self->{owner} // $$) == $$;
    my $pid = $self->{pid} or return;
    kill 'WINCH', $pid;
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.1 }
    if (kill 0, $pid) {
        kill 'TERM', $pid;
        for (1 .. 100) { last unless kill 0, $pid; sleep 0.1 }
    }
    delete $self->{pid};
    delete $LIVE{"$self"};
    my $ok = MxhrLogCheck::check($self->error_log, "$self->{mpm} httpd in $self->{dir}",
                                 @{ $self->{expect} });
    # The whole log of a failed check, kept where MXHR_KEEP_LOGS says
    # (the server's folder goes when the test ends).
    if (!$ok && $ENV{MXHR_KEEP_LOGS}) {
        my $to = "$ENV{MXHR_KEEP_LOGS}/error_log." . $$ . '.' . $self->{port};
        if (File::Copy::copy("$self->{dir}/error_log", $to)) {
            Test::Builder->new->diag("its error log is kept in $to");
        }
    }
    return $ok;
}

sub DESTROY {
    my $self = shift;
    local ($?, $@, $!);
    $self->stop;
}

# The servers still running when the test ends are stopped, and their
# logs checked, before Test::Builder counts the tests (its END block ran
# compiled before this one, so it runs after it); at global destruction
# it would be too late to fail the test.
END {
    local $?;
    $_->stop for grep { defined } values %LIVE;
}

# TCP connections to our port in CLOSE_WAIT (server side), from /proc.
sub close_wait {
    my $self = shift;
    my $n = 0;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($local, $st) = (split ' ')[1, 3];
            next unless $local && $st;
            my ($port) = $local =~ /:([0-9A-F]{4})$/;
            $n++ if defined $port && hex($port) == $self->{port} && $st eq '08';
        }
    }
    return $n;
}

# Server-side TCP sockets of our port by state name (ESTABLISHED,
# CLOSE_WAIT, FIN_WAIT1, ...), listening socket excluded, from /proc.
my %TCP_STATE = ('01' => 'ESTABLISHED', '02' => 'SYN_SENT', '03' => 'SYN_RECV',
                 '04' => 'FIN_WAIT1', '05' => 'FIN_WAIT2', '06' => 'TIME_WAIT',
                 '07' => 'CLOSE', '08' => 'CLOSE_WAIT', '09' => 'LAST_ACK',
                 '0B' => 'CLOSING');
sub server_sockets {
    my $self = shift;
    my %n;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($local, $st) = (split ' ')[1, 3];
            next unless $local && $st && $st ne '0A';
            my ($port) = $local =~ /:([0-9A-F]{4})$/;
            $n{ $TCP_STATE{$st} // $st }++ if defined $port && hex($port) == $self->{port};
        }
    }
    return \%n;
}

# Opens n streams (HTTP/1.0, so the body is the raw multipart) and
# returns a reader: $r->pump($seconds) reads, $r->{conns} each has
# parts => [arrival times], body, closed.
sub open_streams {
    my ($self, $path, $n, %o) = @_;
    my @c;
    my $sel = IO::Select->new;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(Proto => 'tcp')
            or die "socket #$i: $!";
        # Before connect, or the window is already negotiated (large).
        if ($o{rcvbuf}) {
            setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf}));
        }
        $s->connect(pack_sockaddr_in($self->{port}, inet_aton('127.0.0.1')))
            or die "connect #$i: $!";
        $s->blocking(0);
        syswrite $s, "GET $path HTTP/1.0\r\nHost: x\r\n\r\n";
        my $c = { sock => $s, buf => '', body => undef, parts => [],
                  t0 => time, closed => 0, eof => 0, id => $i };
        push @c, $c;
        $sel->add($s) unless $o{noread};
        sleep($o{spacing}) if $o{spacing};
    }
    return bless { conns => \@c, sel => $sel, delim => $o{delim} || "\r\n--b" },
                 'MxhrServer::Reader';
}

package MxhrServer::Reader;
use Time::HiRes qw(time);

sub conns { @{ $_[0]{conns} } }

# One reader for the connections of several.
sub merge {
    my ($class, @r) = @_;
    my $sel = IO::Select->new;
    my @c = map { $_->conns } @r;
    $sel->add($_->{sock}) for grep { !$_->{eof} } @c;
    return bless { conns => \@c, sel => $sel, delim => $r[0]{delim} }, $class;
}

sub pump {
    my ($self, $seconds, $until) = @_;
    my %by = map { fileno($_->{sock}) => $_ } grep { !$_->{eof} } $self->conns;
    my $end = time + $seconds;
    while ((my $left = $end - time) > 0) {
        last if $until && $until->($self);
        my @ready = $self->{sel}->can_read($left > 0.2 ? 0.2 : $left);
        for my $s (@ready) {
            my $c = $by{fileno $s} or next;
            my $n = sysread $s, my $buf, 65536;
            if (!defined $n) { next }
            if ($n == 0) {
                $c->{eof} = 1;
                $self->{sel}->remove($s);
                next;
            }
            my $new = $buf;
            if (!defined $c->{status}) {
                $c->{buf} .= $buf;
                my $i = index $c->{buf}, "\r\n\r\n";
                next if $i < 0;
                ($c->{status}) = $c->{buf} =~ m{^HTTP/\d\.\d (\d+)};
                $new = substr $c->{buf}, $i + 4;
                $c->{buf} = '';
            }
            # Count delimiters in what is new, with an overlap shorter
            # than one delimiter so none is counted twice.
            my $d = $self->{delim};
            my $hay = ($c->{tail} // '') . $new;
            my $found = () = $hay =~ /\Q$d\E/g;
            push @{ $c->{parts} }, time for 1 .. $found;
            $c->{tail} = length $hay >= length($d) - 1
                ? substr($hay, -(length($d) - 1)) : $hay;
            $c->{end} = substr(($c->{end} // '') . $new, -64);
            $c->{closed} = 1 if $c->{end} =~ /\Q$d\E--\r\n\z/;
            $c->{bytes} += length $new;
        }
    }
}

sub close_all {
    my $self = shift;
    for my $c ($self->conns) {
        $self->{sel}->remove($c->{sock});
        close $c->{sock};
    }
}

1;
