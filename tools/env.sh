# tools/env.sh: sourced by the tools/ scripts: repository root and CUDA on PATH.
HARK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null 2>&1; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
# Configure (or reconfigure) a build directory with the given options and build it.
hark_build() {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
  meson compile -C "$dir"
}
