# Every directive is documented twice for its readers: in
# conf/mxhr.conf (for admins, beside the module) and in the README's
# directive table.
use strict;
use warnings FATAL => 'all';
use FindBin;
use Test::More;

my $src = "$FindBin::Bin/../..";
sub slurp { local (@ARGV, $/) = @_; <> }

my %dirs;
for my $file (glob "$src/*.c") {
    my $text = slurp($file);
    $dirs{$1} = 1 while $text =~ /AP_INIT_\w+\(\s*"(Mxhr\w+)"/g;
}
cmp_ok scalar(keys %dirs), '>', 20, 'directives found in the command tables';
my $conf = slurp("$src/conf/mxhr.conf");
my $readme = slurp("$src/README.md");
my ($table) = $readme =~ /^## Directives\n(.*?)^## /ms;
ok defined $table, "the README has a directive table";
$table //= '';
for my $d (sort keys %dirs) {
    like $conf, qr{^\s*#?\s*\Q$d\E\b}m, "$d in conf/mxhr.conf";
    like $table, qr/^\| `\Q$d\E[ `]/m, "$d in the README's table";
}
done_testing;
