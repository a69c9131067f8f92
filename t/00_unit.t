# The C unit tests of the pure framing functions (they print TAP).
use strict;
use warnings FATAL => 'all';
use FindBin;

my $bin = "$FindBin::Bin/unit/frame_test";
-x $bin or die "missing $bin: build first (make)\n";
exec $bin or die "cannot run $bin: $!\n";
