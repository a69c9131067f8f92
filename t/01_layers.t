# The source files form layers: no call runs upward (t/unit/layers.pl
# reads the built object files' symbols).
use strict;
use warnings FATAL => 'all';
use FindBin;

my $src = $ENV{MXHR_SRC} // "$FindBin::Bin/..";
exec $^X, "$FindBin::Bin/unit/layers.pl", '--tap', "$src/.libs"
    or die "cannot run layers.pl: $!\n";
