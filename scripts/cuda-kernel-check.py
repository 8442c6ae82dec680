#!/usr/bin/env python3
"""Compile our MLX custom CUDA kernels offline with NVRTC, exactly as MLX 0.32.2 JITs them.

No GPU is needed: nvrtcCompileProgram only needs libnvrtc. Compile errors show up here instead
of on scarce GPU time.

usage:
  scripts/cuda-kernel-check.py SPECS.json [--arch sm_90a] [--show-source NAME] [--warnings]
                               [--dump DIR] [--strict]
  scripts/cuda-kernel-check.py --setup MLX_CUDA_WHEEL      (one-time, see below)

SPECS.json is a list of launch specs, one per `CudaKernel::new` + `apply` (src/models/cuda_kernel.rs):
  {"name": "gsv_gemv_bias",
   "inputs":  [{"name": "x", "dtype": "float32", "shape": [1, 512]}, ...],
   "outputs": [{"name": "out", "dtype": "float32", "shape": [1, 1536]}],
   "source": "<kernel body>", "header": "<text placed before the kernel>",
   "template": [["T", "float32"], ["R", 1], ["RELU", false]],
   "grid": [x, y, z], "block": [x, y, z], "ensure_row_contiguous": true,
   "writes_inputs": ["k"]}   (optional: inputs written in place through a cast-away const)
Template values: a dtype name (string) for `using T = ...;`, an int for `constexpr int`, a bool
for `constexpr bool`. Prints one line per spec (ok / FAILED) and NVRTC's log for failures;
exits 1 if any spec failed.

What MLX 0.32.2 does (mlx/backend/cuda/custom_kernel.cpp, jit_module.cpp; reproduced below):
  * kernel name  `custom_kernel_<name>` + per template arg `_<int>` / `_t` / `_f` / `_<type>`
    (type = get_type_string: float, float16_t, bfloat16_t, int32_t, ...);
  * source = default header (#include "mlx/backend/cuda/device/utils.cuh",
    #include <cooperative_groups.h>) + user header + `namespace mlx::core::cu {
    namespace cg = cooperative_groups; __global__ void <kernel name>(const T* in, [const
    __grid_constant__ Shape in_shape, Strides in_strides, int in_ndim -- each only if the source
    contains that text and the input has ndim > 0], ..., T* out, ...) { <constexpr/using lines>
    <body> } }`;
  * NVRTC: in-memory headers = the 17 mlx/backend/cuda/device/* files embedded in libmlx.so;
    options `--device-as-default-execution-space --gpu-architecture=sm_90a` (sm_<cc>a for
    cc >= 9, SASS since NVRTC >= 11.8) and `--include-path=` <site>/mlx/include,
    <site>/mlx/include/cccl (CCCL 3.1.3), <site>/nvidia/cu13/include (CUDA runtime headers);
    no -std flag (NVRTC's default); the kernel is registered with nvrtcAddNameExpression.
  * launch: block = min(block, grid) per dim, grid blocks = ceil(grid / block) -- the grid counts
    threads; a grid not divisible by the block launches extra threads (warned about here).

Install recipe (done once on this machine, under /work/venvs/nvrtc; ~250 MB):
  mkdir -p /work/venvs/nvrtc && cd /work/venvs/nvrtc
  python3 -m pip download --no-deps -d wheels -r /work/main/scripts/requirements-cuda-check.txt
      # nvidia-cuda-nvrtc==13.5.37, nvidia-cuda-runtime==13.5.37 (newest 13.x on PyPI at
      # writing; the device's `pip install nvidia-cuda-nvrtc nvidia-cuda-runtime` gets the newest)
  python3 -m pip install --no-deps --no-index --target site wheels/*.whl
      # -> site/nvidia/cu13/lib/libnvrtc.so.13, site/nvidia/cu13/include/{cuda_fp16.h,...}
  python3 /work/main/scripts/cuda-kernel-check.py --setup \\
      /path/to/mlx_cuda_13-0.32.2-py3-none-manylinux_2_35_x86_64.whl
      # (pip download --no-deps mlx-cuda-13==0.32.2) -> mlx-cuda-13-0.32.2/mlx/include (MLX, CCCL,
      # CUTLASS headers as installed on the device) and mlx-cuda-13-0.32.2/jit-headers/ (the
      # device headers read out of the wheel's libmlx.so, byte for byte what MLX hands NVRTC)

Locations (override with env vars): NVRTC_LIB (libnvrtc.so), CUDA_INCLUDE (CUDA runtime headers),
MLX_CUDA_DIR (the folder --setup writes), all defaulting under NVRTC_ROOT=/work/venvs/nvrtc.
"""
import argparse
import ctypes
import json
import os
import re
import struct
import sys
import time
import zipfile

ROOT = os.environ.get("NVRTC_ROOT", "/work/venvs/nvrtc")
NVRTC_LIB = os.environ.get("NVRTC_LIB", os.path.join(ROOT, "site/nvidia/cu13/lib/libnvrtc.so.13"))
CUDA_INCLUDE = os.environ.get("CUDA_INCLUDE", os.path.join(ROOT, "site/nvidia/cu13/include"))
MLX_CUDA_DIR = os.environ.get("MLX_CUDA_DIR", os.path.join(ROOT, "mlx-cuda-13-0.32.2"))

# jit_module.cpp: g_include_names, in this order (the in-memory headers given to NVRTC).
DEVICE_PREFIX = "mlx/backend/cuda/device/"
JIT_HEADER_NAMES = [
    DEVICE_PREFIX + n
    for n in (
        "atomic_ops.cuh binary_ops.cuh cast_op.cuh config.h complex.cuh cute_dequant.cuh "
        "fp16_math.cuh gemm_sm70.cuh hadamard.cuh indexing.cuh qmm_naive.cuh qmm_sm80.cuh "
        "qmm_sm90.cuh scatter_ops.cuh unary_ops.cuh ternary_ops.cuh utils.cuh"
    ).split()
]

# custom_kernel.cpp: default_header.
DEFAULT_HEADER = """
#include "mlx/backend/cuda/device/utils.cuh"

#include <cooperative_groups.h>

"""

# dtype name -> (dtype_to_cuda_type, get_type_string)  (backend/cuda/utils.cpp, common/compiled.cpp)
DTYPES = {
    "bool": ("bool", "bool"),
    "int8": ("int8_t", "int8_t"),
    "int16": ("int16_t", "int16_t"),
    "int32": ("int32_t", "int32_t"),
    "int64": ("int64_t", "int64_t"),
    "uint8": ("uint8_t", "uint8_t"),
    "uint16": ("uint16_t", "uint16_t"),
    "uint32": ("uint32_t", "uint32_t"),
    "uint64": ("uint64_t", "uint64_t"),
    "float16": ("__half", "float16_t"),
    "bfloat16": ("__nv_bfloat16", "bfloat16_t"),
    "float32": ("float", "float"),
    "float64": ("double", "double"),
    "complex64": ("mlx::core::cu::complex64_t", "complex64_t"),
}
DTYPE_ALIASES = {"bool_": "bool", "half": "float16", "float": "float32", "double": "float64"}

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(Exception):
    pass


def dtype_name(value, what):
    if not isinstance(value, str):
        raise SpecError(f"{what}: dtype must be a string, got {value!r}")
    key = value.strip().lower()
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPES:
        raise SpecError(f"{what}: unknown dtype {value!r} (known: {', '.join(DTYPES)})")
    return key


# --------------------------------------------------------------------------------------------
# The generated source (custom_kernel.cpp: template_arguments_hash, cuda_kernel, build_kernel)
# --------------------------------------------------------------------------------------------


def template_hash(template):
    out = ""
    for _, kind, value in template:
        if kind == "int":
            out += f"_{value}"
        elif kind == "bool":
            out += "_t" if value else "_f"
        else:
            out += "_" + DTYPES[value][1]
    return out


def build_kernel(func_name, header, source, inputs, outputs, template):
    s = DEFAULT_HEADER + header
    s += "namespace mlx::core::cu {\n\nnamespace cg = cooperative_groups;\n\n"
    s += "__global__ void " + func_name + "(\n"
    for inp in inputs:
        name = inp["name"]
        s += "    const " + DTYPES[inp["dtype"]][0] + "* " + name + ",\n"
        if len(inp["shape"]) > 0:
            # cuda_kernel(): a plain substring search of the *body* (not the header).
            if (name + "_shape") in source:
                s += "    const __grid_constant__ Shape " + name + "_shape,\n"
            if (name + "_strides") in source:
                s += "    const __grid_constant__ Strides " + name + "_strides,\n"
            if (name + "_ndim") in source:
                s += "    const __grid_constant__ int " + name + "_ndim,\n"
    for i, out in enumerate(outputs):
        s += "    " + DTYPES[out["dtype"]][0] + "* " + out["name"]
        s += ",\n" if i < len(outputs) - 1 else ") {\n"
    if template:
        for name, kind, value in template:
            if kind == "int":
                s += f"  constexpr int {name} = {value};\n"
            elif kind == "bool":
                s += f"  constexpr bool {name} = {'true' if value else 'false'};\n"
            else:
                s += f"  using {name} = {DTYPES[value][0]};\n"
        s += "\n"
    s += source
    s += "\n}\n\n} // namespace mlx::core::cu\n"
    return s


def check_spec(raw, idx):
    """Validates one launch spec; returns (normalized spec, warnings). Raises SpecError."""
    warnings = []
    if not isinstance(raw, dict):
        raise SpecError(f"spec #{idx} is not an object")
    name = raw.get("name")
    if not isinstance(name, str) or not IDENT.match(name):
        raise SpecError(f"spec #{idx}: name {name!r} is not a C identifier")
    known = {"name", "inputs", "outputs", "source", "header", "template", "grid", "block",
             "ensure_row_contiguous", "shared_memory", "comment", "writes_inputs"}
    for k in raw:
        if k not in known:
            warnings.append(f"unknown key {k!r} ignored")

    def arrays(key, need_one):
        items = raw.get(key, [])
        if not isinstance(items, list):
            raise SpecError(f"{key} must be a list")
        if need_one and not items:
            raise SpecError("[custom_kernel] Must specify at least one output.")
        out, seen = [], set()
        for j, a in enumerate(items):
            if not isinstance(a, dict):
                raise SpecError(f"{key}[{j}] is not an object")
            n = a.get("name")
            if not isinstance(n, str) or not IDENT.match(n):
                raise SpecError(f"{key}[{j}]: name {n!r} is not a C identifier")
            if n in seen:
                raise SpecError(f"{key}: duplicate name {n!r}")
            seen.add(n)
            shape = a.get("shape")
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                raise SpecError(f"{key}[{j}] ({n}): shape must be a list of non-negative ints")
            if len(shape) > 8:  # MAX_NDIM in device/config.h (Shape/Strides arrays)
                warnings.append(f"{n}: ndim {len(shape)} > MAX_NDIM 8")
            out.append({"name": n, "dtype": dtype_name(a.get("dtype"), f"{key}[{j}] ({n})"),
                        "shape": shape})
        return out

    inputs = arrays("inputs", False)
    outputs = arrays("outputs", True)
    dup = {i["name"] for i in inputs} & {o["name"] for o in outputs}
    if dup:
        raise SpecError(f"names used for both an input and an output: {sorted(dup)}")
    source = raw.get("source")
    header = raw.get("header", "")
    if not isinstance(source, str) or not isinstance(header, str):
        raise SpecError("source and header must be strings")
    if "\0" in source or "\0" in header:
        raise SpecError("source/header contains a NUL byte")

    template = []
    tnames = set()
    for j, t in enumerate(raw.get("template", []) or []):
        if not isinstance(t, (list, tuple)) or len(t) != 2 or not isinstance(t[0], str):
            raise SpecError(f"template[{j}] must be [name, value]")
        tn, tv = t
        if not IDENT.match(tn):
            raise SpecError(f"template[{j}]: {tn!r} is not a C identifier")
        if tn in tnames:
            raise SpecError(f"template: duplicate name {tn!r}")
        tnames.add(tn)
        if isinstance(tv, bool):
            template.append((tn, "bool", tv))
        elif isinstance(tv, int):
            if not -(2**31) <= tv < 2**31:
                raise SpecError(f"template {tn}={tv} does not fit an int32")
            template.append((tn, "int", tv))
        elif isinstance(tv, str):
            template.append((tn, "dtype", dtype_name(tv, f"template {tn}")))
        else:
            raise SpecError(f"template {tn}: value {tv!r} is not a dtype name, int or bool")
    clash = tnames & ({i["name"] for i in inputs} | {o["name"] for o in outputs})
    if clash:
        warnings.append(f"template names shadow parameter names: {sorted(clash)}")

    def dims(key):
        v = raw.get(key)
        if (not isinstance(v, list) or len(v) != 3
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v)):
            raise SpecError(f"{key} must be 3 positive ints, got {v!r}")
        return v

    grid, block = dims("grid"), dims("block")
    # CustomKernel::eval_gpu: block = min(t, g); grid = ceil(g / t).
    eff_block = [min(t, g) for t, g in zip(block, grid)]
    eff_grid = [(g + t - 1) // t for g, t in zip(grid, block)]
    for axis, g, t in zip("xyz", grid, block):
        if g % t:
            warnings.append(
                f"grid.{axis}={g} is not a multiple of block.{axis}={t}: MLX launches "
                f"{(g + t - 1) // t} blocks, {(g + t - 1) // t * t - g} extra threads must be guarded")
        if t > g:
            warnings.append(f"block.{axis}={t} > grid.{axis}={g}: MLX shrinks the block to {g}")
    if eff_block[0] * eff_block[1] * eff_block[2] > 1024:
        raise SpecError(f"block {eff_block} has more than 1024 threads")
    if eff_block[0] > 1024 or eff_block[1] > 1024 or eff_block[2] > 64:
        raise SpecError(f"block {eff_block} exceeds the per-dimension limits (1024, 1024, 64)")
    if eff_grid[0] > 2**31 - 1 or eff_grid[1] > 65535 or eff_grid[2] > 65535:
        raise SpecError(f"grid of {eff_grid} blocks exceeds the limits (2^31-1, 65535, 65535)")
    if raw.get("ensure_row_contiguous", True) is not True:
        warnings.append("ensure_row_contiguous is not true (the Rust wrapper always passes true)")
    smem = raw.get("shared_memory", 0)
    if smem:
        warnings.append(f"shared_memory={smem} (the Rust wrapper passes 0)")

    kernel_name = "custom_kernel_" + name + template_hash(template)
    src = build_kernel(kernel_name, header, source, inputs, outputs, template)
    tdesc = ", ".join(f"{n}={'true' if v is True else 'false' if v is False else v}"
                      for n, _, v in template)
    return {
        "name": name, "kernel_name": kernel_name, "source": src, "tdesc": tdesc,
        "launch": f"grid {eff_grid} x block {eff_block}",
    }, warnings


# --------------------------------------------------------------------------------------------
# NVRTC (jit_module.cpp: compile)
# --------------------------------------------------------------------------------------------


class Nvrtc:
    def __init__(self, path):
        d = os.path.dirname(path)
        # libnvrtc dlopens libnvrtc-builtins by soname; make sure it resolves from the same folder.
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if f.startswith("libnvrtc-builtins.so"):
                ctypes.CDLL(os.path.join(d, f), mode=ctypes.RTLD_GLOBAL)
                break
        self.lib = lib = ctypes.CDLL(path)
        P = ctypes.c_void_p
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        lib.nvrtcGetErrorString.argtypes = [ctypes.c_int]
        lib.nvrtcVersion.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
        lib.nvrtcCreateProgram.argtypes = [
            ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
            ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)]
        lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(P)]
        lib.nvrtcAddNameExpression.argtypes = [P, ctypes.c_char_p]
        lib.nvrtcCompileProgram.argtypes = [P, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        lib.nvrtcGetProgramLogSize.argtypes = [P, ctypes.POINTER(ctypes.c_size_t)]
        lib.nvrtcGetProgramLog.argtypes = [P, ctypes.c_char_p]
        lib.nvrtcGetLoweredName.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
        for f in ("nvrtcGetPTXSize", "nvrtcGetCUBINSize"):
            getattr(lib, f).argtypes = [P, ctypes.POINTER(ctypes.c_size_t)]
        for f in ("nvrtcGetPTX", "nvrtcGetCUBIN"):
            getattr(lib, f).argtypes = [P, ctypes.c_char_p]

    def check(self, what, rc):
        if rc != 0:
            raise RuntimeError(f"{what} failed: {self.lib.nvrtcGetErrorString(rc).decode()}")

    def version(self):
        a, b = ctypes.c_int(), ctypes.c_int()
        self.check("nvrtcVersion", self.lib.nvrtcVersion(ctypes.byref(a), ctypes.byref(b)))
        return a.value, b.value

    def compile(self, source, prog_name, headers, options, name_expr):
        """Returns (ok, log, lowered name, binary)."""
        lib = self.lib
        prog = ctypes.c_void_p()
        hdr = (ctypes.c_char_p * len(headers))(*[c for _, c in headers])
        inc = (ctypes.c_char_p * len(headers))(*[n.encode() for n, _ in headers])
        self.check("nvrtcCreateProgram", lib.nvrtcCreateProgram(
            ctypes.byref(prog), source.encode(), prog_name.encode(), len(headers), hdr, inc))
        try:
            self.check("nvrtcAddNameExpression", lib.nvrtcAddNameExpression(prog, name_expr.encode()))
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            rc = lib.nvrtcCompileProgram(prog, len(options), opts)
            n = ctypes.c_size_t()
            self.check("nvrtcGetProgramLogSize", lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n)))
            buf = ctypes.create_string_buffer(n.value + 1)
            self.check("nvrtcGetProgramLog", lib.nvrtcGetProgramLog(prog, buf))
            log = buf.value.decode(errors="replace").strip()
            if rc != 0:
                err = lib.nvrtcGetErrorString(rc).decode()
                return False, log or err, None, None
            lowered = ctypes.c_char_p()
            self.check("nvrtcGetLoweredName",
                       lib.nvrtcGetLoweredName(prog, name_expr.encode(), ctypes.byref(lowered)))
            cubin = any(o.startswith("--gpu-architecture=sm_") for o in options)
            kind = "CUBIN" if cubin else "PTX"
            self.check(f"nvrtcGet{kind}Size",
                       getattr(lib, f"nvrtcGet{kind}Size")(prog, ctypes.byref(n)))
            out = ctypes.create_string_buffer(n.value)
            self.check(f"nvrtcGet{kind}", getattr(lib, f"nvrtcGet{kind}")(prog, out))
            return True, log, lowered.value.decode(), out.raw
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))


def load_jit_headers():
    d = os.path.join(MLX_CUDA_DIR, "jit-headers")
    headers = []
    for n in JIT_HEADER_NAMES:
        p = os.path.join(d, n)
        if not os.path.exists(p):
            sys.exit(f"error: {p} missing; run `{sys.argv[0]} --setup MLX_CUDA_WHEEL` (see --help)")
        with open(p, "rb") as f:
            headers.append((n, f.read()))
    return headers


def include_args():
    # jit_module.cpp include_path_args(): <mlx>/include, <mlx>/include/cccl, nvidia/cu13/include.
    mlx_inc = os.path.join(MLX_CUDA_DIR, "mlx/include")
    paths = [mlx_inc, os.path.join(mlx_inc, "cccl"), CUDA_INCLUDE]
    for p in paths:
        if not os.path.isdir(p):
            sys.exit(f"error: include folder {p} missing (see the install recipe in --help)")
    return [f"--include-path={p}" for p in paths]


# --------------------------------------------------------------------------------------------
# --setup: MLX headers from the mlx_cuda_13 wheel, device headers from its libmlx.so
# --------------------------------------------------------------------------------------------


def extract_jit_headers(so):
    """Finds jit_module.cpp's g_include_names / g_headers pointer arrays in libmlx.so (x86-64
    ELF, R_X86_64_RELATIVE relocations) and returns [(include name, bytes)]."""
    if so[:4] != b"\x7fELF" or so[4] != 2 or so[5] != 1:
        raise RuntimeError("libmlx.so is not a little-endian ELF64 file")
    phoff, shoff = struct.unpack_from("<QQ", so, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", so, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _, p_off, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", so, phoff + i * phentsize)
        if p_type == 1:
            segs.append((p_vaddr, p_off, p_filesz))

    def v2o(v):
        for va, off, sz in segs:
            if va <= v < va + sz:
                return v - va + off
        return None

    def o2v(o):
        for va, off, sz in segs:
            if off <= o < off + sz:
                return o - off + va
        return None

    rel = {}
    for i in range(shnum):
        sh = struct.unpack_from("<IIQQQQIIQQ", so, shoff + i * shentsize)
        if sh[1] == 4:  # SHT_RELA
            for k in range(sh[4], sh[4] + sh[5], 24):
                r_off, r_info, r_add = struct.unpack_from("<QQq", so, k)
                if r_info & 0xFFFFFFFF == 8:  # R_X86_64_RELATIVE
                    rel[r_off] = r_add

    def cstr(v):
        o = v2o(v)
        return None if o is None else so[o:so.index(b"\0", o)]

    n = len(JIT_HEADER_NAMES)
    first = so.find(JIT_HEADER_NAMES[0].encode() + b"\0")
    if first < 0:
        raise RuntimeError("include names not found in libmlx.so")
    v = o2v(first)
    for slot in [o for o, a in rel.items() if a == v]:
        names = [cstr(rel.get(slot + 8 * j, 0)) for j in range(n)]
        if [x.decode() if x else None for x in names] != JIT_HEADER_NAMES:
            continue
        for d in range(-8 * 64, 8 * 64 + 8, 8):
            base = slot + d
            if d == 0 or not all(base + 8 * j in rel for j in range(n)):
                continue
            blobs = [cstr(rel[base + 8 * j]) for j in range(n)]
            if all(b and b.startswith(b"// Copyright") for b in blobs):
                return list(zip(JIT_HEADER_NAMES, blobs))
    raise RuntimeError("could not locate the embedded JIT headers in libmlx.so")


def setup(wheel):
    os.makedirs(MLX_CUDA_DIR, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.namelist() if m.startswith("mlx/include/") and not m.endswith("/")]
        if not members:
            sys.exit(f"error: {wheel} has no mlx/include/ (not an mlx CUDA wheel?)")
        z.extractall(MLX_CUDA_DIR, members)
        print(f"extracted {len(members)} headers to {MLX_CUDA_DIR}/mlx/include")
        so = z.read("mlx/lib/libmlx.so")
    for name, blob in extract_jit_headers(so):
        p = os.path.join(MLX_CUDA_DIR, "jit-headers", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(blob)
    print(f"wrote {len(JIT_HEADER_NAMES)} JIT headers to {MLX_CUDA_DIR}/jit-headers")


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="?", help="JSON file with a list of launch specs")
    ap.add_argument("--arch", default="sm_90a",
                    help="NVRTC --gpu-architecture (default sm_90a: what MLX uses on an H100; "
                         "compute_XX gives PTX)")
    ap.add_argument("--show-source", metavar="NAME", action="append", default=[],
                    help="print the generated source of the specs with this name (or kernel name)")
    ap.add_argument("--warnings", action="store_true", help="print NVRTC's log for passing kernels too")
    ap.add_argument("--strict", action="store_true", help="count spec warnings as failures")
    ap.add_argument("--dump", metavar="DIR", help="write each generated .cu and its PTX/CUBIN here")
    ap.add_argument("--resources", action="store_true",
                    help="ask ptxas for registers and shared memory per kernel; fail a launch whose "
                         "block needs more than 65536 registers or 48 KiB of static shared memory")
    ap.add_argument("--setup", metavar="WHEEL", help="unpack headers from an mlx_cuda_13-0.32.2 wheel")
    args = ap.parse_args()

    if args.setup:
        setup(args.setup)
        return 0
    if not args.specs:
        ap.error("SPECS.json is required")
    with open(args.specs) as f:
        specs = json.load(f)
    if isinstance(specs, dict):
        specs = [specs]

    if not os.path.exists(NVRTC_LIB):
        sys.exit(f"error: {NVRTC_LIB} missing; set NVRTC_LIB or follow the install recipe (--help)")
    nvrtc = Nvrtc(NVRTC_LIB)
    headers = load_jit_headers()
    options = ["--device-as-default-execution-space", f"--gpu-architecture={args.arch}"] + include_args()
    if args.resources:
        options.append("--ptxas-options=--verbose")
    major, minor = nvrtc.version()
    print(f"NVRTC {major}.{minor} ({NVRTC_LIB}); options: {' '.join(options[:2])} + "
          f"{len(options) - 2} include paths")
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)

    failed = 0
    for idx, raw in enumerate(specs):
        label = raw.get("name", f"#{idx}") if isinstance(raw, dict) else f"#{idx}"
        try:
            spec, warnings = check_spec(raw, idx)
        except SpecError as e:
            print(f"FAILED {label}: bad spec: {e}")
            failed += 1
            continue
        title = f"{spec['name']} [{spec['tdesc']}]"
        if spec["name"] in args.show_source or spec["kernel_name"] in args.show_source:
            print(f"----- generated source of {spec['kernel_name']} -----\n{spec['source']}"
                  f"----- end -----")
        t0 = time.time()
        ok, log, lowered, binary = nvrtc.compile(
            spec["source"], spec["kernel_name"] + ".cu", headers, options,
            "mlx::core::cu::" + spec["kernel_name"])
        dt = time.time() - t0
        usage = ""
        if ok and args.resources:
            regs = re.search(r"Used (\d+) registers", log or "")
            smem = re.search(r"(\d+) bytes smem", log or "")
            threads = 1
            for d in spec.get("block_dims", raw.get("block", [1, 1, 1])):
                threads *= int(d)
            r = int(regs.group(1)) if regs else 0
            m = int(smem.group(1)) if smem else 0
            usage = f"; {r} registers x {threads} threads, {m} B shared"
            if r * threads > 65536:
                warnings.append(f"block needs {r * threads} registers (> 65536): the launch would fail")
                ok = False
            if m > 48 * 1024:
                warnings.append(f"{m} B of static shared memory (> 48 KiB)")
                ok = False
            if re.search(r"bytes spill (stores|loads)", log or "") and not re.search(r" 0 bytes spill stores", log or ""):
                warnings.append("registers spill to local memory")
        bad = not ok or (args.strict and warnings)
        failed += bool(bad)
        status = "ok    " if not bad else "FAILED"
        print(f"{status} {title}  ({spec['launch']}{usage}; {dt:.1f} s)")
        for w in warnings:
            print(f"       warning: {w}")
        if log and (not ok or args.warnings):
            print("       " + log.replace("\n", "\n       "))
        if args.dump:
            base = os.path.join(args.dump, spec["kernel_name"])
            with open(base + ".cu", "w") as f:
                f.write(spec["source"])
            if binary:
                with open(base + (".cubin" if args.arch.startswith("sm_") else ".ptx"), "wb") as f:
                    f.write(binary.rstrip(b"\0") if not args.arch.startswith("sm_") else binary)
    print(f"{len(specs) - failed}/{len(specs)} ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
