// The base layer's compiled kernels, loaded with ctypes by shiftkit/_ops.py.
//
// shiftkit_row_min_*: the smallest entry of each row of a (rows, k) block and its first index, in one
// pass. torch's min(dim=1) over the (rows x k) block of a k-means assignment costs 2-4x the matrix
// product that fills it; here each row keeps one running minimum per vector lane (compare and blend,
// no branches), and the lanes are reduced at the end, the smallest index winning ties, as numpy's
// argmin. The OpenMP runtime is the one torch loaded (same soname), so there is one thread pool.
//
// With X, C and sums (k-means' update), each row's offset from its nearest center, x - c, times its
// weight, is added to that center's sum in the same pass, in float64, one (k, d) array per thread.
#include <cmath>
#include <cstdint>
#include <omp.h>

namespace {

template <typename T, int L>
inline int64_t argmin_row(const T* row, int64_t k, T* value) {
    T m[L];
    int64_t ix[L];
    for (int l = 0; l < L; ++l) {
        m[l] = row[0];
        ix[l] = 0;
    }
    const int64_t full = (k / L) * L;
    for (int64_t j = 0; j < full; j += L) {
#pragma omp simd
        for (int l = 0; l < L; ++l) {
            const T v = row[j + l];
            const bool lt = v < m[l];
            m[l] = lt ? v : m[l];
            ix[l] = lt ? j + l : ix[l];
        }
    }
    T best = m[0];
    int64_t at = ix[0];
    for (int l = 1; l < L; ++l) {
        if (m[l] < best || (m[l] == best && ix[l] < at)) {
            best = m[l];
            at = ix[l];
        }
    }
    for (int64_t j = full; j < k; ++j) {
        if (row[j] < best) {
            best = row[j];
            at = j;
        }
    }
    *value = best;
    return at;
}

template <typename T>
inline T min_except(const T* row, int64_t k, int64_t skip) {
    T m = skip == 0 ? row[k > 1 ? 1 : 0] : row[0];
#pragma omp simd reduction(min : m)
    for (int64_t j = 0; j < k; ++j) {
        const T v = j == skip ? m : row[j];
        m = v < m ? v : m;
    }
    return m;
}

template <typename T, int L>
void row_min(const T* D, int64_t rows, int64_t k, T* values, int64_t* indices, T* second, const T* X,
             const T* C, const T* w, int64_t d, double* sums, int n_threads) {
#pragma omp parallel num_threads(n_threads)
    {
        double* S = sums == nullptr ? nullptr : sums + static_cast<int64_t>(omp_get_thread_num()) * k * d;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t at = argmin_row<T, L>(D + r * k, k, values + r);
            indices[r] = at;
            if (second != nullptr) second[r] = min_except(D + r * k, k, at);
            if (S != nullptr) {
                const T* x = X + r * d;
                const T* c = C + at * d;
                double* s = S + at * d;
                const double wr = w == nullptr ? 1.0 : static_cast<double>(w[r]);
#pragma omp simd
                for (int64_t j = 0; j < d; ++j) s[j] += wr * static_cast<double>(x[j] - c[j]);
            }
        }
    }
}

template <typename T>
void offset_sums(const T* X, const T* C, const int64_t* labels, const T* w, int64_t n, int64_t k, int64_t d,
                 double* sums, int n_threads) {
#pragma omp parallel num_threads(n_threads)
    {
        double* S = sums + static_cast<int64_t>(omp_get_thread_num()) * k * d;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; ++r) {
            const int64_t at = labels[r];
            const T* x = X + r * d;
            const T* c = C + at * d;
            double* s = S + at * d;
            const double wr = w == nullptr ? 1.0 : static_cast<double>(w[r]);
#pragma omp simd
            for (int64_t j = 0; j < d; ++j) s[j] += wr * static_cast<double>(x[j] - c[j]);
        }
    }
}

template <typename T>
void own_distances(const T* X, const T* C, const int64_t* labels, const int64_t* rows, int64_t m, int64_t d,
                   T* out, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t t = 0; t < m; ++t) {
        const int64_t r = rows[t];
        const T* x = X + r * d;
        const T* c = C + labels[r] * d;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < d; ++j) s += (x[j] - c[j]) * (x[j] - c[j]);
        out[t] = std::sqrt(s);
    }
}

}  // namespace

extern "C" {

// D (rows, k) -> values, indices (rows,), second (rows,) or NULL: the smallest entry other than the
// minimum's; X (rows, d), C (k, d), w (rows,) or NULL, sums (threads, k, d) or NULL: no sums.
int shiftkit_row_min_f32(const float* D, int64_t rows, int64_t k, float* values, int64_t* indices,
                         float* second, const float* X, const float* C, const float* w, int64_t d,
                         double* sums, int n_threads) {
    row_min<float, 16>(D, rows, k, values, indices, second, X, C, w, d, sums, n_threads);
    return 0;
}

int shiftkit_row_min_f64(const double* D, int64_t rows, int64_t k, double* values, int64_t* indices,
                         double* second, const double* X, const double* C, const double* w, int64_t d,
                         double* sums, int n_threads) {
    row_min<double, 8>(D, rows, k, values, indices, second, X, C, w, d, sums, n_threads);
    return 0;
}

// sums (threads, k, d) += w * (x - c[label]) for every row of X (n, d), labels (n,), w (n,) or NULL.
int shiftkit_offset_sums_f32(const float* X, const float* C, const int64_t* labels, const float* w, int64_t n,
                             int64_t k, int64_t d, double* sums, int n_threads) {
    offset_sums<float>(X, C, labels, w, n, k, d, sums, n_threads);
    return 0;
}

int shiftkit_offset_sums_f64(const double* X, const double* C, const int64_t* labels, const double* w,
                             int64_t n, int64_t k, int64_t d, double* sums, int n_threads) {
    offset_sums<double>(X, C, labels, w, n, k, d, sums, n_threads);
    return 0;
}

// out (m,) = |X[rows[t]] - C[labels[rows[t]]]| from explicit differences.
int shiftkit_own_distances_f32(const float* X, const float* C, const int64_t* labels, const int64_t* rows,
                               int64_t m, int64_t d, float* out, int n_threads) {
    own_distances<float>(X, C, labels, rows, m, d, out, n_threads);
    return 0;
}

int shiftkit_own_distances_f64(const double* X, const double* C, const int64_t* labels, const int64_t* rows,
                               int64_t m, int64_t d, double* out, int n_threads) {
    own_distances<double>(X, C, labels, rows, m, d, out, n_threads);
    return 0;
}
}
