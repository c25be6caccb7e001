"""A rule whose output is a directory tree, made with ctx.actions.declare_directory."""

def _outdir_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = """
set -e
mkdir -p "$1/sub/deeper"
echo "top of {name}" > "$1/top.txt"
echo "nested in {name}" > "$1/sub/nested.txt"
echo "deeper in {name}" > "$1/sub/deeper/leaf.txt"
: > "$1/sub/empty.txt"
""".format(name = ctx.label.name),
        arguments = [out.path],
        mnemonic = "OutDir",
        progress_message = "Making directory %s" % ctx.label.name,
    )
    return [DefaultInfo(files = depset([out]))]

outdir = rule(implementation = _outdir_impl)
