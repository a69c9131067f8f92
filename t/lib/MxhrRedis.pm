package MxhrRedis;
# A private redis-server for the Redis-mode tests (t/event/77_redis_*):
# its own free port on 127.0.0.1 and its own temporary directory, an
# append-only file synced at every write, so that a stop and a start on
# the same port and directory keep every key (restart), or lose them all
# when the files go first (wipe_restart). Stopped only by the PID it
# wrote in its own pidfile, never by name.
#
#   my $redis = MxhrRedis->start;
#   $redis->url                 redis://127.0.0.1:PORT
#   $redis->cli('XLEN', 'mxhr:all')  redis-cli's answer, chomped
#   $redis->stop; $redis->restart; $redis->wipe_restart;
#   $redis->pause; $redis->resume   SIGSTOP / SIGCONT: it stops answering
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use MxhrServer ();
use MxhrConf ();
use Test::More ();

my $SERVER = '/usr/bin/redis-server';
my $CLI = '/usr/bin/redis-cli';

# MxhrRedis->start: a new server, port and directory.
sub start {
    my ($class, %o) = @_;
    -x $SERVER or die "no $SERVER (apt-get install redis-server)";
    my $dir = tempdir('mxhr-redis.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0700, $dir;
    my $self = bless { dir => $dir, port => $o{port} || MxhrServer::free_port(),
                       owner => $$, rdb => $o{rdb} }, $class;
    $self->_launch;
    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub url  { "redis://127.0.0.1:$_[0]{port}" }
sub log  {
    open my $fh, '<', "$_[0]{dir}/redis.log" or return '';
    local $/;
    return <$fh> // '';
}

sub _launch {
    my $self = shift;
    my ($dir, $port) = @$self{qw(dir port)};
    unlink "$dir/redis.pid";
    # A list, not a shell line: --save '' must reach redis as one empty
    # argument (no RDB snapshots; the append-only file keeps the data).
    my @cmd = ($SERVER, '--bind', '127.0.0.1', '--port', $port,
               '--dir', $dir, '--pidfile', "$dir/redis.pid",
               '--daemonize', 'yes', '--save', '',
               # rdb => 1: only what a SAVE wrote survives a crash.
               ($self->{rdb} ? ('--appendonly', 'no')
                             : ('--appendonly', 'yes', '--appendfsync', 'always')),
               '--logfile', "$dir/redis.log",
               '--protected-mode', 'no');
    system(@cmd) == 0 or die "redis-server did not start: $?\n" . $self->log;
    # Up when its pidfile names a live process and it answers PING with
    # PONG (not LOADING while it reads its append-only file back).
    my $end = time + 10;
    while (time < $end) {
        my $pid = $self->pid;
        if ($pid && _alive($pid) && $self->_ping) {
            $self->{pid} = $pid;
            return $self;
        }
        sleep 0.05;
    }
    die "redis-server not answering on $port:\n" . $self->log;
}

sub pid {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/redis.pid" or return 0;
    my $pid = <$fh> // 0;
    chomp $pid;
    return $pid =~ /\A\d+\z/ ? $pid : 0;
}

# A zombie (gone, not yet reaped by whoever adopted it) is not alive.
sub _alive {
    my $pid = shift;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $st = <$fh> // '';
    return $st =~ /^\d+ \(.*\) Z/ ? 0 : 1;
}

# One PING on a raw socket, a short wait: true on +PONG.
sub _ping {
    my $self = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Proto => 'tcp', Timeout => 1) or return 0;
    syswrite $s, "PING\r\n";
    my $ok = 0;
    if (IO::Select->new($s)->can_read(1)) {
        my $n = sysread $s, my $buf, 256;
        $ok = $n && $buf =~ /\A\+PONG\r\n/ ? 1 : 0;
    }
    close $s;
    return $ok;
}

sub running { my $p = $_[0]{pid}; $p && _alive($p) ? 1 : 0 }

# SIGTERM to its PID (SIGCONT too, should it be paused); waits until the
# process is gone and the port refuses connections.
sub stop {
    my $self = shift;
    return unless $$ == $self->{owner};     # not from a forked child
    my $pid = delete $self->{pid} or return;
    return unless _alive($pid);
    kill 'TERM', $pid;
    kill 'CONT', $pid;
    my $end = time + 15;
    sleep 0.05 while _alive($pid) && time < $end;
    if (_alive($pid)) {
        kill 'KILL', $pid;
        sleep 0.05 while _alive($pid) && time < $end + 5;
    }
    die "redis-server $pid did not stop" if _alive($pid);
    delete $self->{paused};
    return 1;
}

# Stopped and started again on the same port and directory: the
# append-only file brings every key back.
sub restart {
    my $self = shift;
    $self->stop;
    $self->_launch;
}

# Stopped, its files deleted, started again: a Redis that lost it all.
sub wipe_restart {
    my $self = shift;
    $self->stop;
    remove_tree("$self->{dir}/appendonlydir");
    unlink glob "$self->{dir}/*.aof $self->{dir}/*.rdb";
    $self->_launch;
}

# SIGKILL, then started again: with rdb => 1 it comes back with what
# its last SAVE wrote, without the writes since.
sub crash_restart {
    my $self = shift;
    my $pid = delete $self->{pid} or die "not running";
    kill 'KILL', $pid;
    my $end = time + 10;
    sleep 0.05 while _alive($pid) && time < $end;
    $self->_launch;
}

# A Redis that takes connections and requests but answers nothing.
sub pause {
    my $self = shift;
    kill 'STOP', $self->{pid} or die "SIGSTOP $self->{pid}: $!";
    $self->{paused} = 1;
}

sub resume {
    my $self = shift;
    kill 'CONT', $self->{pid} or die "SIGCONT $self->{pid}: $!";
    delete $self->{paused};
}

# redis-cli -h 127.0.0.1 -p PORT ARGS...: its output, chomped (a list
# in list context, one line each).
sub cli {
    my ($self, @args) = @_;
    open my $fh, '-|', $CLI, '-h', '127.0.0.1', '-p', $self->{port}, @args
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return wantarray ? @out : join "\n", @out;
}

sub DESTROY {
    my $self = shift;
    local ($?, $@, $!);
    eval { $self->stop };
}

# ---- What the 77_redis tests' httpd servers share ----------------------

# The configuration of an httpd in Redis mode: this Redis; the same
# ServerName with its port on every server (the channels' namespace is
# "ServerName:port", and each private server listens on a port of its
# own); and the locations:
#   /pub?id=X    publisher (history 1000)    /hist3?id=X  history 3
#   /sub?id=X    multipart/mixed, boundary rb, heartbeat $o{heartbeat}
#   /sse?id=X    server-sent events, heartbeat $o{heartbeat}
sub httpd_conf {
    my ($self, %o) = @_;
    my $url = $self->url;
    my $hb = $o{heartbeat} // '1s';
    my $timeout = $o{timeout} // 1;
    return MxhrConf::redis(url => $url, timeout => $timeout) . <<"CONF";
ServerName mxhr.test:80
GracefulShutdownTimeout 30
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrChannelHistory 1000
</Location>
<Location /hist3>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrChannelHistory 3
</Location>
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat mixed
    MxhrBoundary rb
    MxhrHeartbeat $hb
</Location>
<Location /sse>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat sse
    MxhrHeartbeat $hb
</Location>
CONF
}

# Stops the test's httpd servers, then checks that no child of theirs
# died of a signal (a prefork child's pool cleanups once ran under the
# Redis reader's thread and crashed every child at its end).
sub stop_servers {
    my @srv = @_;
    $_->stop for @srv;
    for my $srv (@srv) {
        Test::More::unlike($srv->error_log, qr/exit signal/,
                           "$srv->{mpm}: no child died of a signal");
    }
}

# A pool for each MPM with room for a dozen streams per server and a new
# generation beside the old one (graceful restarts). Under event, two
# listener buckets, so that connections land in both children.
# pool_sizes: for MxhrServer->start(pool => ...); pool: as directives.
sub pool_sizes {
    my $mpm = shift;
    return { children => 2, threads => 16, limit => 4, buckets => 1 }
        if $mpm eq 'event';
    return { children => 10, min_spare => 4, max_spare => 32, limit => 40 }
        if $mpm eq 'prefork';
    die "no pool for $mpm";
}

sub pool { MxhrConf::pool($_[0], %{ pool_sizes($_[0]) }) }

1;
