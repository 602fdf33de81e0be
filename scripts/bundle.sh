#!/usr/bin/env bash
# Gathers programs and every shared library they need into one portable folder.
#
# usage: scripts/bundle.sh [--cuda-libraries] [--c-library] [--archive] OUT FILE...
#
# FILE: model binaries (ee-compile's output), other executables or shared
# libraries. OUT/bin holds the executables, OUT/lib every library they load
# (found by ldd), each patched (patchelf) to look beside itself first, so the
# folder runs on another x86-64 Linux machine with none of this machine's
# packages: everything but the C library (libc, libm, libdl, libpthread,
# librt, the dynamic loader) and the NVIDIA driver's libraries (libcuda,
# libnvidia-*), which come from that machine. A cuda binary's libeert_cuda
# loads cuBLASLt and NCCL at run time (dlopen): --cuda-libraries copies them
# too (about 730 MB); without it, the target's own are used (for example
# PyTorch's: EERT_CUDA_LIBRARY_PATH names their folder, see
# scripts/gpu-check.sh). A single-process run starts no MPI (libmpi is
# bundled but only initialised under mpirun). OUT/BUNDLE lists what is there,
# the newest glibc symbol version the bundle needs, and what it leaves to the
# target. Debian 12's libstdc++ needs glibc 2.36: for an older target (Ubuntu
# 22.04 has 2.35), --c-library adds this machine's C library in OUT/libc, and
# `OUT/run PROGRAM ARGS...` starts PROGRAM with the target's C library when it
# is new enough, else with the bundled one (EERT_BUNDLE_C_LIBRARY=1 forces it).
# --archive also writes OUT.tar.gz.
set -euo pipefail

cuda_libraries=0
c_library=0
archive=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda-libraries) cuda_libraries=1; shift ;;
    --c-library) c_library=1; shift ;;
    --archive) archive=1; shift ;;
    --) shift; break ;;
    -*) echo "bundle: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: scripts/bundle.sh [--cuda-libraries] [--c-library] [--archive] OUT FILE..." >&2
  exit 2
fi
out=$1
shift
for tool in ldd patchelf; do
  command -v "$tool" >/dev/null ||
    { echo "bundle: needs $tool (scripts/setup.sh installs patchelf)" >&2; exit 1; }
done

# What the target machine provides: the C library and the NVIDIA driver.
is_system() {
  case "$(basename "$1")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libutil.so.*|libresolv.so.*) return 0 ;;
    ld-linux*|linux-vdso*) return 0 ;;
    libcuda.so*|libnvidia-*) return 0 ;;
  esac
  return 1
}

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
declare -A copied=()

copy_library() { # PATH: copies it (once) and what it needs
  local path=$1 name
  name=$(basename "$path")
  is_system "$name" && return 0
  [ -n "${copied[$name]:-}" ] && return 0
  copied[$name]=1
  cp -L "$path" "$out/lib/$name"
  chmod u+w "$out/lib/$name"
  copy_dependencies "$path"
}

copy_dependencies() { # FILE: the libraries ldd resolves for it
  local line name path
  while read -r line; do
    case "$line" in
      *"=> not found"*)
        echo "bundle: $(basename "$1") needs ${line%% *}, which is not found here" >&2
        exit 1 ;;
      *"=> /"*)
        name=${line%% *}
        path=${line#*=> }
        path=${path%% (*}
        is_system "$name" || copy_library "$path" ;;
    esac
  done < <(ldd "$1" 2>/dev/null || true)
}

for file in "$@"; do
  [ -f "$file" ] || { echo "bundle: no file $file" >&2; exit 1; }
  case "$(basename "$file")" in
    *.so|*.so.*) copy_library "$(readlink -f "$file")" ;;
    *)
      cp -L "$file" "$out/bin/"
      chmod u+w "$out/bin/$(basename "$file")"
      copy_dependencies "$file" ;;
  esac
done

# The libraries libeert_cuda opens itself.
dlopened=()
if [ -n "${copied[libeert_cuda.so]:-}" ] && [ "$cuda_libraries" = 1 ]; then
  for soname in libcublasLt.so.13 libnccl.so.2; do
    path=$(ldconfig -p | awk -v n="$soname" '$1 == n && !found++ { print $NF }')
    for folder in ${EERT_CUDA_LIBRARY_PATH//:/ } /usr/local/cuda/lib64; do
      [ -z "$path" ] && [ -e "$folder/$soname" ] && path=$folder/$soname
    done
    [ -n "$path" ] || { echo "bundle: --cuda-libraries: $soname not found" >&2; exit 1; }
    copy_library "$(readlink -f "$path")"
    # Its soname, as dlopen asks for it.
    [ -e "$out/lib/$soname" ] || mv "$out/lib/$(basename "$(readlink -f "$path")")" "$out/lib/$soname"
    dlopened+=("$soname")
  done
fi

# Look beside themselves first: the executables in ../lib, the libraries in
# their own folder (RUNPATH applies to an object's own dependencies, and to
# what it dlopens).
for program in "$out"/bin/*; do
  patchelf --set-rpath '$ORIGIN/../lib' "$program"
done
for library in "$out"/lib/*; do
  patchelf --set-rpath '$ORIGIN' "$library"
done

glibc=$(for f in "$out"/bin/* "$out"/lib/*; do objdump -T "$f" 2>/dev/null; done |
  grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2,2n -u | tail -1)

if [ "$c_library" = 1 ]; then
  mkdir -p "$out/libc"
  loader=$(ldd "$out/bin/$(ls "$out/bin" | head -1)" | awk '/ld-linux/ && !found++ { print $1 }')
  for name in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libutil.so.1 libresolv.so.2; do
    path=$(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64/ && !found++ { print $NF }')
    [ -n "$path" ] && cp -L "$path" "$out/libc/$name"
  done
  cp -L "$loader" "$out/libc/ld-linux-x86-64.so.2"
  needed=${glibc#GLIBC_}
  cat > "$out/run" <<RUN
#!/bin/sh
# Runs a bundled program (bin/PROGRAM): with the target's C library when it is
# glibc $needed or newer, else with the one in libc/ (EERT_BUNDLE_C_LIBRARY=1
# forces that).
here=\$(cd "\$(dirname "\$0")" && pwd)
[ \$# -ge 1 ] || { echo "usage: \$0 PROGRAM [ARGS...]" >&2; exit 2; }
program=\$here/bin/\$1
shift
target=\$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print \$2 }')
if [ "\${EERT_BUNDLE_C_LIBRARY:-0}" != 1 ] && [ -n "\$target" ] &&
   [ "\$(printf '%s\\n%s\\n' "$needed" "\$target" | sort -t. -k1,1n -k2,2n | head -1)" = "$needed" ]; then
  exec "\$program" "\$@"
fi
exec "\$here/libc/ld-linux-x86-64.so.2" --library-path "\$here/libc:\$here/lib" "\$program" "\$@"
RUN
  chmod +x "$out/run"
fi
{
  echo "programs: $(cd "$out/bin" && ls | tr '\n' ' ')"
  echo "libraries: $(ls "$out/lib" | wc -l) ($(du -sh "$out/lib" | cut -f1))"
  echo "needs from the target: the C library (${glibc:-any} or newer$([ "$c_library" = 1 ] && echo ', else run uses libc/')), the NVIDIA driver for cuda binaries"
  if [ -n "${copied[libeert_cuda.so]:-}" ]; then
    if [ ${#dlopened[@]} -gt 0 ]; then
      echo "cuda libraries: bundled (${dlopened[*]})"
    else
      echo "cuda libraries: the target's (libcublasLt.so.13 or .12, libnccl.so.2: EERT_CUDA_LIBRARY_PATH or the loader's path)"
    fi
  fi
} > "$out/BUNDLE"
cat "$out/BUNDLE"
if [ "$archive" = 1 ]; then
  tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
  echo "archive: $out.tar.gz ($(du -h "$out.tar.gz" | cut -f1))"
fi
