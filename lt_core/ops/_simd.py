"""Short-vector building blocks for the compiled unprojection kernels (numba intrinsics, LLVM IR).

Numba vectorises long loops well, but the kernels work on rows of ``F = 32`` channels, too short for its loop
vectoriser (and it cannot rule out that two arrays overlap). Each function here reads ``LANES`` consecutive
elements of one or more arrays at given element offsets, computes on them as one LLVM vector (lowered to the
machine's widest registers: one AVX-512, two AVX2 or four NEON registers for float32) and writes the result back,
so its meaning does not depend on whether the arrays overlap.

Offsets are element offsets into flat, C-contiguous 1-D arrays and are not bounds-checked: the caller guarantees
that ``offset + LANES`` stays inside every array. All arrays of one call share a dtype (float32 or float64).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16
"""Elements per vector operation (channels per chunk, voxels per transposition tile)."""

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)

# 2^f on [0, 1): degree-6 polynomial, least squares on Chebyshev nodes with relative weights (max relative error
# 2e-9 in exact arithmetic, 9e-8 evaluated in float32, about one float32 rounding), highest power first
_POW2_COEFFS = (2.1690609e-04, 1.2443082e-03, 9.6784728e-03, 5.5483524e-02, 2.4022980e-01, 6.9314700e-01, 1.0)


class _Vec:
    """Code generation helpers for one intrinsic call: vector type, loads, stores and splats of one dtype."""

    def __init__(self, context, builder, dtype):
        self.context, self.builder, self.dtype = context, builder, dtype
        self.el = context.get_data_type(dtype)
        self.ty = ir.VectorType(self.el, LANES)
        self.align = context.get_abi_sizeof(self.el)

    def ptr(self, arrty, ary, offset):
        data = self.context.make_array(arrty)(self.context, self.builder, value=ary).data
        return self.builder.bitcast(self.builder.gep(data, [offset]), self.ty.as_pointer())

    def load(self, arrty, ary, offset):
        value = self.builder.load(self.ptr(arrty, ary, offset))
        value.align = self.align
        return value

    def store(self, value, arrty, ary, offset, stream=False):
        inst = self.builder.store(value, self.ptr(arrty, ary, offset))
        if stream:  # non-temporal: the caller guarantees LANES-element alignment
            inst.align = self.align * LANES
            inst.set_metadata("nontemporal", self.builder.module.add_metadata([ir.Constant(_I32, 1)]))
        else:
            inst.align = self.align

    def index(self, value, valty):
        """An integer argument as int64."""
        return self.context.cast(self.builder, value, valty, types.int64)

    def splat(self, value, valty):
        b = self.builder
        value = self.context.cast(b, value, valty, self.dtype)
        one = b.insert_element(ir.Constant(self.ty, ir.Undefined), value, ir.Constant(_I32, 0))
        return b.shuffle_vector(
            one, ir.Constant(self.ty, ir.Undefined), ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES)
        )

    def vector_intrinsic(self, name):
        """The LLVM intrinsic ``llvm.<name>`` on this vector type (e.g. ``llvm.floor.v16f32``)."""
        suffix = f"v{LANES}{'f64' if self.dtype == types.float64 else 'f32'}"
        return cgutils.get_or_insert_function(
            self.builder.module, ir.FunctionType(self.ty, [self.ty]), f"llvm.{name}.{suffix}"
        )

    def const(self, x):
        return ir.Constant(self.ty, [ir.Constant(self.el, x)] * LANES)

    def pow2_nonpositive(self, x):
        """``2^x`` of a vector with ``x <= 0`` (NaN stays NaN; ``x < -126`` may give 0)."""
        b = self.builder
        if self.dtype == types.float64:
            return b.call(self.vector_intrinsic("exp2"), [x])
        low = self.const(-127.0)
        x = b.select(b.fcmp_ordered("<", x, low), low, x)
        k = b.call(self.vector_intrinsic("floor"), [x])
        f = b.fsub(x, k)
        p = self.const(_POW2_COEFFS[0])
        for c in _POW2_COEFFS[1:]:
            p = b.fadd(b.fmul(p, f), self.const(c))
        k = b.select(b.fcmp_ordered("==", k, k), k, self.const(0.0))  # NaN: any exponent, p is NaN already
        ity = ir.VectorType(_I32, LANES)
        bits = b.shl(b.fptosi(b.fadd(k, self.const(127.0)), ity), ir.Constant(ity, [ir.Constant(_I32, 23)] * LANES))
        return b.fmul(p, b.bitcast(bits, self.ty))


def _same_dtype(*arrays):
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1 or not all(isinstance(a, types.Array) and a.ndim == 1 for a in arrays):
        raise TypeError("vector intrinsics take 1-D arrays of one dtype")
    return dtypes.pop()


def _tap_offsets(v, args, types_):
    """The four tap offsets ``o, o + step, o + below, o + below + step`` from the arguments ``(o, step, below)``."""
    o, step, below = (v.index(a, t) for a, t in zip(args, types_))
    down = v.builder.add(o, below)
    return o, v.builder.add(o, step), down, v.builder.add(down, step)


def _blend(accumulate: bool):
    def typer(typingctx, dst, doff, src, off, step, below, w0, w1, w2, w3):
        dtype = _same_dtype(dst, src)
        sig = types.void(dst, doff, src, off, step, below, w0, w1, w2, w3)

        def codegen(context, builder, signature, args):
            v = _Vec(context, builder, dtype)
            dst_v, doff_v, src_v = args[:3]
            taps = _tap_offsets(v, args[3:6], signature.args[3:6])
            terms = [
                builder.fmul(v.splat(w, wty), v.load(signature.args[2], src_v, o))
                for o, w, wty in zip(taps, args[6:], signature.args[6:])
            ]
            total = builder.fadd(builder.fadd(terms[0], terms[1]), builder.fadd(terms[2], terms[3]))
            if accumulate:
                total = builder.fadd(v.load(signature.args[0], dst_v, doff_v), total)
            v.store(total, signature.args[0], dst_v, doff_v)
            return context.get_dummy_value()

        return sig, codegen

    return typer


blend4 = intrinsic(_blend(False))
"""``blend4(dst, d, src, o, step, below, w0, w1, w2, w3)``: ``dst[d:d+L] = (w0 src[o:o+L] + w1 src[o+step:...])
+ (w2 src[o+below:...] + w3 src[o+below+step:...])``, a bilinear sample of ``L`` channels from a channels-last
table whose pixels are ``step`` elements apart and whose rows ``below`` elements apart."""

blend4_add = intrinsic(_blend(True))
"""As :data:`blend4`, adding to ``dst``."""


@intrinsic
def scatter4_add(typingctx, dst, off, step, below, w0, w1, w2, w3, g, goff):
    """``dst[ok:ok+L] += wk * g[goff:goff+L]`` for the four taps ``ok`` of :data:`blend4` (its adjoint)."""
    dtype = _same_dtype(dst, g)
    sig = types.void(dst, off, step, below, w0, w1, w2, w3, g, goff)

    def codegen(context, builder, signature, args):
        v = _Vec(context, builder, dtype)
        grad = v.load(signature.args[8], args[8], args[9])
        for o, w, wty in zip(_tap_offsets(v, args[1:4], signature.args[1:4]), args[4:8], signature.args[4:8]):
            old = v.load(signature.args[0], args[0], o)
            v.store(builder.fadd(old, builder.fmul(v.splat(w, wty), grad)), signature.args[0], args[0], o)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vfill(typingctx, dst, doff, value):
    """``dst[d:d+L] = value``."""
    dtype = _same_dtype(dst)
    sig = types.void(dst, doff, value)

    def codegen(context, builder, signature, args):
        v = _Vec(context, builder, dtype)
        v.store(v.splat(args[2], signature.args[2]), signature.args[0], args[0], args[1])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def softmax_mix(typingctx, s, soff, sstride, count, dst, doff, mx, den, noff, l2e):
    """``dst[d:d+L] = sum_k softmax_k(x_k) x_k`` over ``count >= 1`` vectors ``x_k = s[soff + k sstride:...+L]``,
    elementwise. The maximum over k (``mx[noff:...]``) is subtracted before ``e_k = 2^(l2e (x_k - mx))`` and
    ``den[noff:...] = sum_k e_k`` is kept too (for the gradient); a NaN reaches the result."""
    dtype = _same_dtype(s, dst, mx, den)
    sig = types.void(s, soff, sstride, count, dst, doff, mx, den, noff, l2e)

    def codegen(context, builder, signature, args):
        v = _Vec(context, builder, dtype)
        ta = signature.args
        soff_v, ss_v, count_v, noff_v = (v.index(args[k], ta[k]) for k in (1, 2, 3, 8))
        factor = v.splat(args[9], ta[9])

        def item(k):
            return v.load(ta[0], args[0], builder.add(soff_v, builder.mul(ss_v, k)))

        top = cgutils.alloca_once_value(builder, v.const(-float("inf")))
        with cgutils.for_range(builder, count_v) as loop:
            x, m = item(loop.index), builder.load(top)
            builder.store(builder.select(builder.fcmp_ordered(">", x, m), x, m), top)
        num = cgutils.alloca_once_value(builder, v.const(0.0))
        total = cgutils.alloca_once_value(builder, v.const(0.0))
        m = builder.load(top)
        with cgutils.for_range(builder, count_v) as loop:
            x = item(loop.index)
            e = v.pow2_nonpositive(builder.fmul(builder.fsub(x, m), factor))
            builder.store(builder.fadd(builder.load(num), builder.fmul(e, x)), num)
            builder.store(builder.fadd(builder.load(total), e), total)
        v.store(builder.fdiv(builder.load(num), builder.load(total)), ta[4], args[4], args[5])
        v.store(m, ta[6], args[6], noff_v)
        v.store(builder.load(total), ta[7], args[7], noff_v)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def softmax_grad(typingctx, gs, g, goff, s, soff, mx, den, out, noff, l2e):
    """Gradient of ``o = sum_c p_c s_c`` w.r.t. one view's samples: ``gs[0:L] = g p (1 + s - o)`` with
    ``p = 2^(l2e (s - mx)) / den`` (``g`` at ``goff``; ``mx, den, out`` at ``noff``)."""
    dtype = _same_dtype(gs, g, s, mx, den, out)
    sig = types.void(gs, g, goff, s, soff, mx, den, out, noff, l2e)

    def codegen(context, builder, signature, args):
        v = _Vec(context, builder, dtype)
        ta = signature.args
        x = v.load(ta[3], args[3], args[4])
        e = v.pow2_nonpositive(builder.fmul(builder.fsub(x, v.load(ta[5], args[5], args[8])), v.splat(args[9], ta[9])))
        p = builder.fdiv(e, v.load(ta[6], args[6], args[8]))
        slope = builder.fsub(builder.fadd(v.const(1.0), x), v.load(ta[7], args[7], args[8]))
        grad = builder.fmul(builder.fmul(v.load(ta[1], args[1], args[2]), p), slope)
        v.store(grad, ta[0], args[0], ir.Constant(_I64, 0))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def store_fence(typingctx):
    """A full memory fence: non-temporal stores are visible to other threads once it has run."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def project_taps(typingctx, pts, npad, off, proj, c, ulo, uhi, vlo, vhi, w, rows, seen, roff, wts, woff, wstride):
    """Bilinear taps of voxels ``off:off+L`` in view ``c``, vectorised over the voxels.

    ``pts``: world mm as (3, npad) flattened (x row, y row, z row); ``proj``: (C, 3, 4) flattened matrices giving
    homogeneous padded sampling coordinates ``((u+1) z, (v+1) z, z)`` of a map ``w`` pixels wide. Writes
    ``rows[roff:roff+L]`` (int64 top-left rows of the padded map, ``w + 2`` rows apart), ``seen[roff:...]`` (1 when
    ``z > 0`` and ``(u+1, v+1)`` lies in ``[ulo, uhi] x [vlo, vhi]``, else 0; the bounds keep all four taps inside
    the padded map) and the weights ``wts[woff + k wstride:...]`` for the taps ``k = 0..3`` (top-left, right, down,
    down-right), in ``wts``' dtype. A hidden voxel-view gets the taps of padded pixel (1, 1), which are valid rows
    (never read).
    """
    if not (isinstance(pts, types.Array) and pts.dtype == proj.dtype and pts.ndim == 1 and proj.ndim == 1):
        raise TypeError("project_taps: points and matrices must be 1-D arrays of one dtype")
    sig = types.void(pts, npad, off, proj, c, ulo, uhi, vlo, vhi, w, rows, seen, roff, wts, woff, wstride)

    def codegen(context, builder, signature, args):
        ta = signature.args
        g = _Vec(context, builder, ta[0].dtype)
        t = _Vec(context, builder, ta[13].dtype)
        b = builder
        npad_v, off_v, c_v, roff_v, woff_v, ws_v = (g.index(args[k], ta[k]) for k in (1, 2, 4, 12, 14, 15))
        ulo, uhi, vlo, vhi = (g.splat(context.cast(b, args[k], ta[k], ta[0].dtype), ta[0].dtype) for k in (5, 6, 7, 8))
        coords = [g.load(ta[0], args[0], b.add(off_v, b.mul(npad_v, ir.Constant(_I64, k)))) for k in range(3)]
        data = context.make_array(ta[3])(context, b, value=args[3]).data
        base = b.mul(c_v, ir.Constant(_I64, 12))

        def row(r):
            entries = [b.load(b.gep(data, [b.add(base, ir.Constant(_I64, 4 * r + k))])) for k in range(4)]
            value = g.splat(entries[3], ta[0].dtype)
            for k in range(3):
                value = b.fadd(b.fmul(g.splat(entries[k], ta[0].dtype), coords[k]), value)
            return value

        qu, qv, z = row(0), row(1), row(2)
        up, vp = b.fdiv(qu, z), b.fdiv(qv, z)
        ok = b.and_(
            b.fcmp_ordered(">", z, g.const(0.0)),
            b.and_(
                b.and_(b.fcmp_ordered(">=", up, ulo), b.fcmp_ordered("<=", up, uhi)),
                b.and_(b.fcmp_ordered(">=", vp, vlo), b.fcmp_ordered("<=", vp, vhi)),
            ),
        )
        one = g.const(1.0)
        up, vp = b.select(ok, up, one), b.select(ok, vp, one)
        u0, v0 = b.call(g.vector_intrinsic("floor"), [up]), b.call(g.vector_intrinsic("floor"), [vp])
        a, c2 = b.fsub(up, u0), b.fsub(vp, v0)
        ivec = ir.VectorType(_I64, LANES)
        w2 = b.add(g.index(args[9], ta[9]), ir.Constant(_I64, 2))
        w2v = b.shuffle_vector(
            b.insert_element(ir.Constant(ivec, ir.Undefined), w2, ir.Constant(_I32, 0)),
            ir.Constant(ivec, ir.Undefined),
            ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES),
        )
        top_left = b.add(b.mul(b.fptosi(v0, ivec), w2v), b.fptosi(u0, ivec))
        rows_ptr = context.make_array(ta[10])(context, b, value=args[10]).data
        st = b.store(top_left, b.bitcast(b.gep(rows_ptr, [roff_v]), ivec.as_pointer()))
        st.align = 8
        seen_ptr = context.make_array(ta[11])(context, b, value=args[11]).data
        bytes_ty = ir.VectorType(ir.IntType(8), LANES)
        st = b.store(b.zext(ok, bytes_ty), b.bitcast(b.gep(seen_ptr, [roff_v]), bytes_ty.as_pointer()))
        st.align = 1
        na, nc = b.fsub(one, a), b.fsub(one, c2)
        for k, weight in enumerate((b.fmul(na, nc), b.fmul(a, nc), b.fmul(na, c2), b.fmul(a, c2))):
            if ta[13].dtype != ta[0].dtype:
                weight = (b.fptrunc if ta[13].dtype == types.float32 else b.fpext)(weight, t.ty)
            t.store(weight, ta[13], args[13], b.add(woff_v, b.mul(ws_v, ir.Constant(_I64, k))))
        return context.get_dummy_value()

    return sig, codegen


def _transpose_masks():
    """Shuffle masks of the ``log2(LANES)`` butterfly stages that transpose a ``LANES x LANES`` tile of rows: the
    stage of width ``k`` swaps the off-diagonal ``k x k`` blocks of every ``2k x 2k`` block."""
    stages, k = [], LANES // 2
    while k >= 1:
        lo = [j if (j & k) == 0 else LANES + j - k for j in range(LANES)]
        hi = [j + k if (j & k) == 0 else LANES + j for j in range(LANES)]
        stages.append((k, lo, hi))
        k //= 2
    return stages


_MASKS = _transpose_masks()


def _transpose(stream: bool):
    def typer(typingctx, src, soff, sstride, dst, doff, dstride, scale):
        dtype = _same_dtype(src, dst)
        sig = types.void(src, soff, sstride, dst, doff, dstride, scale)

        def codegen(context, builder, signature, args):
            v = _Vec(context, builder, dtype)
            ta = signature.args
            src_v, dst_v, sc_v = args[0], args[3], args[6]
            soff_v, ss_v, doff_v, ds_v = (v.index(args[k], ta[k]) for k in (1, 2, 4, 5))
            rows = [
                v.load(ta[0], src_v, builder.add(soff_v, builder.mul(ss_v, ir.Constant(_I64, r)))) for r in range(LANES)
            ]
            mask_ty = ir.VectorType(_I32, LANES)
            for k, lo, hi in _MASKS:
                new = list(rows)
                for a in range(LANES):
                    if a & k:
                        continue
                    new[a] = builder.shuffle_vector(rows[a], rows[a + k], ir.Constant(mask_ty, lo))
                    new[a + k] = builder.shuffle_vector(rows[a], rows[a + k], ir.Constant(mask_ty, hi))
                rows = new
            factor = v.splat(sc_v, ta[6])
            for j in range(LANES):
                off = builder.add(doff_v, builder.mul(ds_v, ir.Constant(_I64, j)))
                v.store(builder.fmul(rows[j], factor), ta[3], dst_v, off, stream=stream)
            return context.get_dummy_value()

        return sig, codegen

    return typer


transpose_tile = intrinsic(_transpose(False))
"""``transpose_tile(src, s, ss, dst, d, ds, scale)``: ``dst[d + j ds + r] = scale src[s + r ss + j]`` for
``r, j < LANES``."""

transpose_tile_stream = intrinsic(_transpose(True))
"""As :data:`transpose_tile` with non-temporal stores (the output bypasses the caches); every ``dst`` row must start
on a ``LANES``-element boundary."""
