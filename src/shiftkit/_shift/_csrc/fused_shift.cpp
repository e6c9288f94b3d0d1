// The fused CPU engine of shift: one mean-shift step with no n x m temporaries.
//
// For each query y_i (OpenMP over queries), the data are streamed from XT, the
// data transposed (d x n), so that the innermost loops run over points and
// vectorise: squared distances, kernel weights (glibc's vector expf for the
// Gaussian), weighted sums, all in registers or an L1-sized block buffer.
//
// A query accumulates over ranges of points: the whole data (the `fused`
// engine), or the points of its neighboring grid cells, stored contiguously
// by cell (the `grid` engine). The Gaussian is stabilised online, as in flash
// attention: weights are exp(-(D - D_min) / 2h^2) with D_min the smallest
// squared distance seen so far, and the partial sums are rescaled when D_min
// drops; the exponent is clamped at -80 so the vector expf never takes its
// slow scalar underflow path (a weight of e^-80 ~ 1.8e-35 against the nearest
// point's 1 changes nothing).
//
// Built by setuptools as a plain shared library and called through ctypes;
// no Python or torch headers are needed.

#include <math.h>
#include <omp.h>
#include <stdint.h>

namespace {

constexpr int64_t BLOCK = 256;
constexpr int MAX_D = 1024;

enum Kernel { GAUSSIAN = 0, FLAT = 1, TRIANGULAR = 2, EPANECHNIKOV = 3 };

template <typename T>
inline T exp_t(T v);
template <>
inline float exp_t<float>(float v) { return expf(v); }
template <>
inline double exp_t<double>(double v) { return exp(v); }

template <typename T>
inline T sqrt_t(T v);
template <>
inline float sqrt_t<float>(float v) { return sqrtf(v); }
template <>
inline double sqrt_t<double>(double v) { return sqrt(v); }

template <typename T, int KERNEL>
inline T compact_weight(T dd, T h2, T inv_h) {
    if (KERNEL == FLAT) return dd <= h2 ? T(1) : T(0);
    if (KERNEL == TRIANGULAR) {
        const T v = T(1) - sqrt_t<T>(dd) * inv_h;
        return v > 0 ? v : T(0);
    }
    const T v = T(1) - dd / h2;
    return v > 0 ? v : T(0);
}

// The running sums of one query. D > 0: the dimension is fixed at compile time
// (dimensions 1-4, which measured fastest that way); D == 0: any dimension.
template <typename T, int KERNEL, int D>
struct Query {
    static constexpr int CAP = D > 0 ? D : MAX_D;
    const T* y;
    int dims;
    T h, h2, inv_h, inv2h2;
    T acc[CAP];
    T den = 0;
    T d_min = INFINITY;  // Gaussian: the offset of the exponents so far

    Query(const T* y_, int d, T h_) : y(y_), dims(D > 0 ? D : d), h(h_) {
        h2 = h * h;
        inv_h = T(1) / h;
        inv2h2 = T(0.5) / h2;
        for (int k = 0; k < dims; ++k) acc[k] = 0;
    }

    // Gaussian: make `new_min` the offset of the exponents, rescaling the sums.
    inline void lower_offset(T new_min) {
        if (new_min < d_min) {
            if (den > 0) {
                const T r = exp_t<T>((new_min - d_min) * inv2h2);
                den *= r;
                for (int k = 0; k < dims; ++k) acc[k] *= r;
            }
            d_min = new_min;
        }
    }

    // Points j0 .. j1-1 of XT (d x n, row stride n), weights w (or null).
    void add(const T* XT, const T* w, int64_t n, int64_t j0, int64_t j1) {
        if constexpr (D > 0) {
            add_fixed(XT, w, n, j0, j1);
        } else {
            for (int64_t b = j0; b < j1; b += BLOCK) add_block(XT, w, n, b, b + BLOCK < j1 ? b + BLOCK : j1);
        }
    }

    // Fixed dimension: compact kernels in one pass, the Gaussian in two passes per block.
    void add_fixed(const T* XT, const T* w, int64_t n, int64_t j0, int64_t j1) {
        T yk[CAP];
        T a[CAP];
        for (int k = 0; k < D; ++k) {
            yk[k] = y[k];
            a[k] = 0;
        }
        T s = 0;
        if constexpr (KERNEL != GAUSSIAN) {
            const T h2_ = h2, inv_h_ = inv_h;
#pragma omp simd reduction(+ : s, a[:D])
            for (int64_t j = j0; j < j1; ++j) {
                T dd = 0;
                for (int k = 0; k < D; ++k) {
                    const T diff = yk[k] - XT[(int64_t)k * n + j];
                    dd += diff * diff;
                }
                T wt = compact_weight<T, KERNEL>(dd, h2_, inv_h_);
                if (w != nullptr) wt *= w[j];
                s += wt;
                for (int k = 0; k < D; ++k) a[k] += wt * XT[(int64_t)k * n + j];
            }
        } else {
            alignas(64) T dist[BLOCK];
            for (int64_t b = j0; b < j1; b += BLOCK) {
                const int64_t len = b + BLOCK < j1 ? BLOCK : j1 - b;
                const T* xb = XT + b;
                T blk_min = INFINITY;
#pragma omp simd reduction(min : blk_min)
                for (int64_t j = 0; j < len; ++j) {
                    T dd = 0;
                    for (int k = 0; k < D; ++k) {
                        const T diff = yk[k] - xb[(int64_t)k * n + j];
                        dd += diff * diff;
                    }
                    dist[j] = dd;
                    blk_min = dd < blk_min ? dd : blk_min;
                }
                // fold the block's partial sums in before the offset may change
                den += s;
                for (int k = 0; k < D; ++k) {
                    acc[k] += a[k];
                    a[k] = 0;
                }
                s = 0;
                lower_offset(blk_min);
                const T off = d_min, c = inv2h2;
                const T* wb = w == nullptr ? nullptr : w + b;
#pragma omp simd reduction(+ : s, a[:D])
                for (int64_t j = 0; j < len; ++j) {
                    T e = (off - dist[j]) * c;
                    e = e < T(-80) ? T(-80) : e;
                    T wt = exp_t<T>(e);
                    if (wb != nullptr) wt *= wb[j];
                    s += wt;
                    for (int k = 0; k < D; ++k) a[k] += wt * xb[(int64_t)k * n + j];
                }
            }
        }
        den += s;
        for (int k = 0; k < D; ++k) acc[k] += a[k];
    }

    // Any dimension, one block: distances, weights, sums in separate vectorised passes.
    void add_block(const T* XT, const T* w, int64_t n, int64_t j0, int64_t j1) {
        alignas(64) T dist[BLOCK];
        const int64_t len = j1 - j0;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) dist[j] = 0;
        for (int k = 0; k < dims; ++k) {
            const T yk = y[k];
            const T* xk = XT + (int64_t)k * n + j0;
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                const T diff = yk - xk[j];
                dist[j] += diff * diff;
            }
        }
        if constexpr (KERNEL == GAUSSIAN) {
            T blk_min = INFINITY;
#pragma omp simd reduction(min : blk_min)
            for (int64_t j = 0; j < len; ++j) blk_min = dist[j] < blk_min ? dist[j] : blk_min;
            lower_offset(blk_min);
            const T off = d_min, c = inv2h2;
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                T e = (off - dist[j]) * c;
                e = e < T(-80) ? T(-80) : e;
                dist[j] = exp_t<T>(e);
            }
        } else {
            const T h2_ = h2, inv_h_ = inv_h;
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) dist[j] = compact_weight<T, KERNEL>(dist[j], h2_, inv_h_);
        }
        if (w != nullptr) {
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) dist[j] *= w[j0 + j];
        }
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < len; ++j) s += dist[j];
        den += s;
        for (int k = 0; k < dims; ++k) {
            const T* xk = XT + (int64_t)k * n + j0;
            T a = 0;
#pragma omp simd reduction(+ : a)
            for (int64_t j = 0; j < len; ++j) a += dist[j] * xk[j];
            acc[k] += a;
        }
    }

    void finish(T* y_new, T* density) const {
        for (int k = 0; k < dims; ++k) y_new[k] = den > 0 ? acc[k] / den : y[k];
        *density = KERNEL == GAUSSIAN && den > 0 ? den * exp_t<T>(-d_min * inv2h2) : den;
    }
};

// Every query over all the data.
template <typename T, int KERNEL, int D>
void shift_all(const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new, T* density,
               const int64_t*, const int64_t*, const int64_t*, int, int n_threads) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads)
    for (int64_t i = 0; i < m; ++i) {
        Query<T, KERNEL, D> q(Y + i * d, d, h);
        q.add(XT, w, n, 0, n);
        q.finish(Y_new + i * d, density + i);
    }
}

// Every query over the points of its neighboring cells: cell c holds points
// starts[c] .. starts[c] + counts[c] - 1 of XT; nbr (m x n_nbr) lists the
// cells of each query, -1 for none.
template <typename T, int KERNEL, int D>
void shift_cells(const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new, T* density,
                 const int64_t* starts, const int64_t* counts, const int64_t* nbr, int n_nbr, int n_threads) {
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads)
    for (int64_t i = 0; i < m; ++i) {
        Query<T, KERNEL, D> q(Y + i * d, d, h);
        const int64_t* cells = nbr + i * n_nbr;
        for (int c = 0; c < n_nbr; ++c) {
            const int64_t cell = cells[c];
            if (cell >= 0) q.add(XT, w, n, starts[cell], starts[cell] + counts[cell]);
        }
        q.finish(Y_new + i * d, density + i);
    }
}

template <typename T>
using Runner = void (*)(const T*, int64_t, const T*, const T*, int64_t, int, T, T*, T*, const int64_t*,
                        const int64_t*, const int64_t*, int, int);

template <typename T, int KERNEL, bool CELLS>
Runner<T> pick_d(int d) {
#define SHIFTKIT_RUNNER(DIM) (CELLS ? &shift_cells<T, KERNEL, DIM> : &shift_all<T, KERNEL, DIM>)
    switch (d) {
        case 1: return SHIFTKIT_RUNNER(1);
        case 2: return SHIFTKIT_RUNNER(2);
        case 3: return SHIFTKIT_RUNNER(3);
        case 4: return SHIFTKIT_RUNNER(4);
        default: return SHIFTKIT_RUNNER(0);
    }
#undef SHIFTKIT_RUNNER
}

template <typename T, bool CELLS>
Runner<T> pick(int kernel, int d) {
    switch (kernel) {
        case GAUSSIAN: return pick_d<T, GAUSSIAN, CELLS>(d);
        case FLAT: return pick_d<T, FLAT, CELLS>(d);
        case TRIANGULAR: return pick_d<T, TRIANGULAR, CELLS>(d);
        case EPANECHNIKOV: return pick_d<T, EPANECHNIKOV, CELLS>(d);
        default: return nullptr;
    }
}

template <typename T>
int run(int kernel, const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new,
        T* density, const int64_t* starts, const int64_t* counts, const int64_t* nbr, int n_nbr, int n_threads) {
    if (d < 1 || d > MAX_D) return 1;
    Runner<T> f = nbr == nullptr ? pick<T, false>(kernel, d) : pick<T, true>(kernel, d);
    if (f == nullptr) return 2;
    f(Y, m, XT, w, n, d, h, Y_new, density, starts, counts, nbr, n_nbr, n_threads);
    return 0;
}

}  // namespace

extern "C" {

int shiftkit_max_features(void) { return MAX_D; }

// nbr == NULL: every query over all n points; else over its cells (see shift_cells).
int shiftkit_shift_f32(int kernel, const float* Y, int64_t m, const float* XT, const float* w, int64_t n, int d,
                       float h, float* Y_new, float* density, const int64_t* starts, const int64_t* counts,
                       const int64_t* nbr, int n_nbr, int n_threads) {
    return run<float>(kernel, Y, m, XT, w, n, d, h, Y_new, density, starts, counts, nbr, n_nbr, n_threads);
}

int shiftkit_shift_f64(int kernel, const double* Y, int64_t m, const double* XT, const double* w, int64_t n,
                       int d, double h, double* Y_new, double* density, const int64_t* starts,
                       const int64_t* counts, const int64_t* nbr, int n_nbr, int n_threads) {
    return run<double>(kernel, Y, m, XT, w, n, d, h, Y_new, density, starts, counts, nbr, n_nbr, n_threads);
}
}
