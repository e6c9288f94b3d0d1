// The fused CPU engine of shift: one mean-shift step with no n x m temporaries.
//
// For each query y_i (OpenMP over queries), the data are streamed in blocks of
// BLOCK points held transposed (XT, d x n) so that the innermost loops run over
// points and vectorise: squared distances, kernel weights (glibc's vector expf
// for the Gaussian), then the weighted sums. Everything for one block stays in
// L1. The Gaussian is stabilised online, as in flash attention: weights are
// exp(-(D - D_min) / 2h^2) with D_min the smallest squared distance seen so far,
// and the partial sums are rescaled when D_min drops; the exponent is clamped at
// -80 so the vector expf never takes its slow scalar underflow path (a weight
// of e^-80 ~ 1.8e-35 against the nearest point's 1 changes nothing).
//
// Built by setuptools as a plain shared library and called through ctypes;
// no Python or torch headers are needed.

#include <math.h>
#include <stdint.h>
#include <omp.h>

namespace {

constexpr int64_t BLOCK = 256;
constexpr int MAX_D_STACK = 1024;

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

// Squared distances of one query to a block of points.
template <typename T, int D>
inline void block_sq_dist(const T* y, const T* XT, int64_t n, int64_t j0, int64_t len, int d, T* dist) {
    const int dims = D > 0 ? D : d;
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
}

template <typename T, int KERNEL, int D>
void shift_query(const T* y, const T* XT, const T* w, int64_t n, int d, T h, T* y_new, T* density) {
    alignas(64) T dist[BLOCK];
    const int dims = D > 0 ? D : d;
    T acc_stack[MAX_D_STACK];
    T* acc = acc_stack;  // d <= MAX_D_STACK is guaranteed by the caller
    for (int k = 0; k < dims; ++k) acc[k] = 0;
    T den = 0;
    T d_min = INFINITY;  // Gaussian: the offset of the exponents so far
    const T inv2h2 = T(0.5) / (h * h);
    const T h2 = h * h;
    const T inv_h = T(1) / h;
    for (int64_t j0 = 0; j0 < n; j0 += BLOCK) {
        const int64_t len = n - j0 < BLOCK ? n - j0 : BLOCK;
        block_sq_dist<T, D>(y, XT, n, j0, len, d, dist);
        if (KERNEL == GAUSSIAN) {
            T blk_min = INFINITY;
#pragma omp simd reduction(min : blk_min)
            for (int64_t j = 0; j < len; ++j) blk_min = dist[j] < blk_min ? dist[j] : blk_min;
            if (blk_min < d_min) {
                if (den > 0) {
                    const T r = exp_t<T>((blk_min - d_min) * inv2h2);
                    den *= r;
                    for (int k = 0; k < dims; ++k) acc[k] *= r;
                }
                d_min = blk_min;
            }
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                T e = (d_min - dist[j]) * inv2h2;
                e = e < T(-80) ? T(-80) : e;
                dist[j] = exp_t<T>(e);
            }
        } else if (KERNEL == FLAT) {
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) dist[j] = dist[j] <= h2 ? T(1) : T(0);
        } else if (KERNEL == TRIANGULAR) {
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                const T v = T(1) - sqrt_t<T>(dist[j]) * inv_h;
                dist[j] = v > 0 ? v : T(0);
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                const T v = T(1) - dist[j] / h2;
                dist[j] = v > 0 ? v : T(0);
            }
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
    if (den > 0) {
        for (int k = 0; k < dims; ++k) y_new[k] = acc[k] / den;
    } else {
        for (int k = 0; k < dims; ++k) y_new[k] = y[k];
    }
    *density = KERNEL == GAUSSIAN && den > 0 ? den * exp_t<T>(-d_min * inv2h2) : den;
}

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

// Compact kernels in a fixed small dimension: one pass per point, nothing stored.
template <typename T, int KERNEL, int D>
void shift_query_fused(const T* y, const T* XT, const T* w, int64_t n, T h, T* y_new, T* density) {
    const T h2 = h * h;
    const T inv_h = T(1) / h;
    T acc[D];
    T yk[D];
    for (int k = 0; k < D; ++k) {
        acc[k] = 0;
        yk[k] = y[k];
    }
    T den = 0;
#pragma omp simd reduction(+ : den, acc[:D])
    for (int64_t j = 0; j < n; ++j) {
        T dd = 0;
        for (int k = 0; k < D; ++k) {
            const T diff = yk[k] - XT[(int64_t)k * n + j];
            dd += diff * diff;
        }
        T wt = compact_weight<T, KERNEL>(dd, h2, inv_h);
        if (w != nullptr) wt *= w[j];
        den += wt;
        for (int k = 0; k < D; ++k) acc[k] += wt * XT[(int64_t)k * n + j];
    }
    for (int k = 0; k < D; ++k) y_new[k] = den > 0 ? acc[k] / den : y[k];
    *density = den;
}

// The Gaussian in a fixed small dimension: per block, one pass for the distances
// and their minimum, one pass for the weights and the sums.
template <typename T, int D>
void shift_query_gaussian_fused(const T* y, const T* XT, const T* w, int64_t n, T h, T* y_new, T* density) {
    alignas(64) T dist[BLOCK];
    const T inv2h2 = T(0.5) / (h * h);
    T acc[D];
    T yk[D];
    for (int k = 0; k < D; ++k) {
        acc[k] = 0;
        yk[k] = y[k];
    }
    T den = 0;
    T d_min = INFINITY;
    for (int64_t j0 = 0; j0 < n; j0 += BLOCK) {
        const int64_t len = n - j0 < BLOCK ? n - j0 : BLOCK;
        const T* xb = XT + j0;
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
        if (blk_min < d_min) {
            if (den > 0) {
                const T r = exp_t<T>((blk_min - d_min) * inv2h2);
                den *= r;
                for (int k = 0; k < D; ++k) acc[k] *= r;
            }
            d_min = blk_min;
        }
        const T* wb = w == nullptr ? nullptr : w + j0;
#pragma omp simd reduction(+ : den, acc[:D])
        for (int64_t j = 0; j < len; ++j) {
            T e = (d_min - dist[j]) * inv2h2;
            e = e < T(-80) ? T(-80) : e;
            T wt = exp_t<T>(e);
            if (wb != nullptr) wt *= wb[j];
            den += wt;
            for (int k = 0; k < D; ++k) acc[k] += wt * xb[(int64_t)k * n + j];
        }
    }
    for (int k = 0; k < D; ++k) y_new[k] = den > 0 ? acc[k] / den : y[k];
    *density = den > 0 ? den * exp_t<T>(-d_min * inv2h2) : T(0);
}

template <typename T, int KERNEL, int D>
void shift_all(const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new, T* density,
               int n_threads) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads)
    for (int64_t i = 0; i < m; ++i) {
        if constexpr (KERNEL == GAUSSIAN && D > 0) {
            shift_query_gaussian_fused<T, D>(Y + i * d, XT, w, n, h, Y_new + i * d, density + i);
        } else if constexpr (D > 0) {
            shift_query_fused<T, KERNEL, D>(Y + i * d, XT, w, n, h, Y_new + i * d, density + i);
        } else {
            shift_query<T, KERNEL, D>(Y + i * d, XT, w, n, d, h, Y_new + i * d, density + i);
        }
    }
}

// Dimensions 1-4 get kernels with the dimension fixed at compile time (one pass
// per point for compact kernels, two per block for the Gaussian). Larger fixed
// dimensions measured ten times slower with GCC 12 (the simd loops with array
// reductions stop vectorising), so they take the blocked kernel, dimension at
// run time.
template <typename T, int KERNEL>
void dispatch_d(const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new, T* density,
                int n_threads) {
    switch (d) {
        case 1: return shift_all<T, KERNEL, 1>(Y, m, XT, w, n, d, h, Y_new, density, n_threads);
        case 2: return shift_all<T, KERNEL, 2>(Y, m, XT, w, n, d, h, Y_new, density, n_threads);
        case 3: return shift_all<T, KERNEL, 3>(Y, m, XT, w, n, d, h, Y_new, density, n_threads);
        case 4: return shift_all<T, KERNEL, 4>(Y, m, XT, w, n, d, h, Y_new, density, n_threads);
        default: return shift_all<T, KERNEL, 0>(Y, m, XT, w, n, d, h, Y_new, density, n_threads);
    }
}

template <typename T>
int run(int kernel, const T* Y, int64_t m, const T* XT, const T* w, int64_t n, int d, T h, T* Y_new,
        T* density, int n_threads) {
    if (d < 1 || d > MAX_D_STACK) return 1;
    switch (kernel) {
        case GAUSSIAN: dispatch_d<T, GAUSSIAN>(Y, m, XT, w, n, d, h, Y_new, density, n_threads); return 0;
        case FLAT: dispatch_d<T, FLAT>(Y, m, XT, w, n, d, h, Y_new, density, n_threads); return 0;
        case TRIANGULAR: dispatch_d<T, TRIANGULAR>(Y, m, XT, w, n, d, h, Y_new, density, n_threads); return 0;
        case EPANECHNIKOV: dispatch_d<T, EPANECHNIKOV>(Y, m, XT, w, n, d, h, Y_new, density, n_threads); return 0;
        default: return 2;
    }
}

}  // namespace

extern "C" {

int shiftkit_max_features(void) { return MAX_D_STACK; }

int shiftkit_shift_f32(int kernel, const float* Y, int64_t m, const float* XT, const float* w, int64_t n, int d,
                       float h, float* Y_new, float* density, int n_threads) {
    return run<float>(kernel, Y, m, XT, w, n, d, h, Y_new, density, n_threads);
}

int shiftkit_shift_f64(int kernel, const double* Y, int64_t m, const double* XT, const double* w, int64_t n,
                       int d, double h, double* Y_new, double* density, int n_threads) {
    return run<double>(kernel, Y, m, XT, w, n, d, h, Y_new, density, n_threads);
}
}
