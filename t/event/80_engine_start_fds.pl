# A push engine that cannot start gives back what it had opened (issue
# 15, defect 7): engine_running() creates its epoll descriptor, then
# its eventfd; when the second fails, the first must not stay open for
# the child's life.
#
# The child's descriptor limit is lowered (prlimit) so that the first
# stream's socket and the epoll descriptor still fit and the eventfd
# does not: MXHR030 is logged, the stream is served blocking, and the
# child holds no more epoll descriptors than before (its MPM's own).
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my ($prlimit) = grep { -x } map { "$_/prlimit" } qw(/usr/bin /bin /usr/sbin);
plan skip_all => 'needs prlimit (util-linux)' unless $prlimit;
plan tests => 5;

my $loc = <<'CONF';
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 100ms
    MxhrMaxSections 3
</Location>
CONF
my $srv = MxhrServer->start(expect_errors => [qr/MXHR030/], conf => MxhrServer::event_pool(threads => 5)
                                    . $loc);
my @kids = $srv->children;
is scalar(@kids), 1, 'one child';
my $kid = $kids[0];

# Descriptor number => what it is.
sub fds {
    my %f;
    for my $l (glob "/proc/$kid/fd/*") {
        my ($n) = $l =~ m{(\d+)$};
        $f{$n} = readlink($l) // '';
    }
    return \%f;
}
sub epolls { scalar grep { /eventpoll/ } values %{ fds() } }

# New descriptors take the lowest free numbers: the stream's socket the
# first, the epoll descriptor the second; the eventfd would take the
# third, which the limit forbids.
my $before = fds();
my $epolls = epolls();
my @free;
for (my $i = 0; @free < 3; $i++) {
    push @free, $i unless exists $before->{$i};
}
system($prlimit, "--pid=$kid", "--nofile=$free[2]:") == 0
    or BAIL_OUT("prlimit --pid=$kid failed");

my $r = $srv->open_streams('/s', 1);
$r->pump(10, sub { !grep { !$_->{eof} } $_[0]->conns });
my $c = $r->{conns}[0];
ok(($c->{status} // 0) == 200 && $c->{closed},
   'the stream is served (blocking) and ends with its closing delimiter');
like $srv->error_log, qr/MXHR030: cannot start the push engine/,
     'MXHR030: the engine could not start';
is epolls(), $epolls,
   "no epoll descriptor left behind ($epolls before: the MPM's)";
ok !grep({ /eventfd/ } values %{ fds() }), 'no eventfd either';
$r->close_all;

system($prlimit, "--pid=$kid", "--nofile=1024:");
$srv->stop;
