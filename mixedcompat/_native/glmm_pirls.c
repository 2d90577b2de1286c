/*
 * mixedcompat's compiled PIRLS for GLMMs whose random-effects terms are all scalar (one column each:
 * (1 | g), (0 + x | g), (x || g) split into its scalar halves, crossed or nested, any number of them).
 *
 * One call is one evaluation of glmer's objective at fixed parameters: lme4 1.1-31's pwrssUpdate
 * (the same loop, tests and messages as mixedcompat/glmer/pirls.py, which is the reference and the
 * fallback), then the pieces of the Laplace objective: log|L|^2, ||u||^2, the sum of the deviance
 * residuals and, for the binomial and poisson families, aic() with R's exact dbinom / dpois (the
 * data-only parts, Stirling errors and log-factorials, come precomputed from Python).
 *
 * The weighted PLS system of one iteration is blocked as mixedcompat/lme4/schur.py blocks it: the
 * first term (the one with the most levels) is diagonal; the other terms' columns and, for the joint
 * update of nAGQ = 0, the fixed effects form one dense block, whose Schur complement is accumulated
 * level by level over the (first-term level, later column) pairs that occur in the data.
 *
 * No Python header is needed: the library is loaded with ctypes (mixedcompat/glmer/compiled.py).
 * Compiled without floating-point contraction (results do not depend on the machine's FMA) and without
 * errno from the maths library (sqrt inlined; the same correctly rounded values).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define MAX_STEP_HALVINGS 20

enum { FAM_BINOMIAL = 0, FAM_POISSON = 1, FAM_GAMMA = 2, FAM_GAUSSIAN = 3, FAM_INVGAUSS = 4, FAM_NEGBIN = 5 };
enum { LINK_LOGIT = 0, LINK_LOG = 1, LINK_CLOGLOG = 2, LINK_IDENTITY = 3, LINK_INVERSE = 4, LINK_SQRT = 5,
       LINK_INVMU2 = 6 };
enum { AIC_NONE = 0, AIC_BINOMIAL = 1, AIC_POISSON = 2 };
enum { OK = 0, ERR_NAN = 1, ERR_HALVING = 2, ERR_MAXIT = 3, ERR_RX = 4, ERR_MEMORY = 5 };

typedef struct {
    int n, K, p, m_r, L1;
    const int *codes;          /* K x n, term 0 first */
    const double *zval;        /* K x n: the term's model-matrix column */
    const int *offs;           /* K: a later term's first column in the dense block */
    const int *pair_of_row;    /* (K - 1) x n: the pair (level of term 0, later column) of the row */
    const int *pair_dense;     /* npairs: the pair's later column */
    const int *colptr;         /* L1 + 1: the pairs of level j of term 0 */
    int npairs;
    const double *X;           /* n x p, row-major */
    const double *y, *pw;
    int family, link;
    double nb_theta;
    int aic_kind;
    const double *a_coef, *a_x, *a_n, *a_c1, *a_c2;
} Problem;

/* C++'s std::max(a, x) / std::min(a, x): the bound for a NaN x, as lme4's clamps */
static inline double cpp_max(double a, double x) { return (a < x) ? x : a; }
static inline double cpp_min(double a, double x) { return (x < a) ? x : a; }

static inline double linkinv(int link, double eta) {
    switch (link) {
    case LINK_LOGIT: return cpp_max(EPS, cpp_min(1.0 - EPS, 1.0 / (1.0 + exp(-eta))));
    case LINK_LOG: return cpp_max(EPS, exp(eta));
    case LINK_CLOGLOG: return cpp_max(EPS, cpp_min(1.0 - EPS, -expm1(-exp(eta))));
    case LINK_IDENTITY: return eta;
    case LINK_INVERSE: return 1.0 / eta;
    case LINK_SQRT: return eta * eta;
    default: return 1.0 / sqrt(eta);
    }
}

static inline double mu_eta(int link, double eta) {
    double e, f, inv;
    switch (link) {
    case LINK_LOGIT:
        e = exp(-fabs(eta));
        f = 1.0 + e;
        return cpp_max(EPS, e / (f * f));
    case LINK_LOG: return cpp_max(EPS, exp(eta));
    case LINK_CLOGLOG: return cpp_max(EPS, exp(eta - exp(eta)));
    case LINK_IDENTITY: return 1.0;
    case LINK_INVERSE: inv = 1.0 / eta; return -(inv * inv);
    case LINK_SQRT: return 2.0 * eta;
    default: return -1.0 / (2.0 * pow(eta, 1.5));
    }
}

static inline double variance(const Problem *P, double mu) {
    switch (P->family) {
    case FAM_BINOMIAL: return cpp_max(EPS, mu * (1.0 - mu));
    case FAM_POISSON: return mu;
    case FAM_GAMMA: return mu * mu;
    case FAM_GAUSSIAN: return 1.0;
    case FAM_INVGAUSS: return mu * mu * mu;
    default: return mu + mu * mu / P->nb_theta;
    }
}

static inline double log_n0(double x) { return (x == 0.0) ? 0.0 : log(x); }   /* log(1) is exactly 0 */
/* y log(y / mu), 0 when y / mu is 0; y == 0 skips the logarithm (its value would be 0 * 0 = 0) */
static inline double y_log_y(double y, double mu) { return (y == 0.0) ? 0.0 : y * log_n0(y / mu); }

static inline double dev_resid(const Problem *P, double y, double mu, double wt) {
    double d, th;
    switch (P->family) {
    case FAM_BINOMIAL: return 2.0 * wt * (y_log_y(y, mu) + y_log_y(1.0 - y, 1.0 - mu));
    case FAM_POISSON: return 2.0 * wt * (y * log_n0(y / mu) - (y - mu));
    case FAM_GAMMA: return -2.0 * wt * (log_n0(y / mu) - (y - mu) / mu);
    case FAM_GAUSSIAN: d = y - mu; return wt * (d * d);
    case FAM_INVGAUSS: d = y - mu; return wt * (d * d) / (y * (mu * mu));
    default:
        th = P->nb_theta;
        return 2.0 * wt * (y_log_y(y, mu) - (y + th) * log((y + th) / (mu + th)));
    }
}

/* Loader's x log(x / np) + np - x, as R 4.2's nmath bd0 (mixedcompat.glm.rmath.bd0) */
static double bd0(double x, double np) {
    if (!isfinite(x) || !isfinite(np) || np == 0.0) return NAN;
    if (fabs(x - np) < 0.1 * (x + np)) {
        double v = (x - np) / (x + np), s = (x - np) * v;
        if (fabs(s) < DBL_MIN) return s;
        double ej = 2.0 * x * v, v2 = v * v;
        for (int j = 1; j < 1000; j++) {
            ej *= v2;
            double s1 = s + ej / (2 * j + 1);
            if (s1 == s) return s1;
            s = s1;
        }
    }
    return x * log(x / np) + np - x;
}

/* log dbinom_raw(x, n, p, 1 - p); c1 = stirlerr(n) - stirlerr(x) - stirlerr(n - x), c2 = log(2 pi) + log(x)
 * + log1p(-x / n), both for 0 < x < n (mixedcompat.glm.rmath.dbinom_raw_log) */
static double dbinom_raw_log(double x, double n, double p, double c1, double c2) {
    double q = 1.0 - p;
    if (p == 0.0) return (x == 0.0) ? 0.0 : -INFINITY;
    if (q == 0.0) return (x == n) ? 0.0 : -INFINITY;
    if (x == 0.0) {
        if (n == 0.0) return 0.0;
        return (p < 0.1) ? -bd0(n, n * q) - n * p : n * log(q);
    }
    if (x == n) return (q < 0.1) ? -bd0(n, n * p) - n * q : n * log(p);
    if (x < 0.0 || x > n) return -INFINITY;
    return ((c1 - bd0(x, n * p)) - bd0(n - x, n * q)) - 0.5 * c2;
}

/* log dpois(x, lam) for an integer x >= 0; c1 = -0.5 log(2 pi x), c2 = stirlerr(x) (x > 0), a_n = lgamma(x + 1) */
static double dpois_log(double x, double lam, double c1, double c2, double lgx1) {
    if (isnan(x) || isnan(lam)) return NAN;
    if (lam < 0.0) return NAN;
    if (lam == 0.0) return (x == 0.0) ? 0.0 : -INFINITY;
    if (!isfinite(lam) || x < 0.0) return -INFINITY;
    if (x <= lam * DBL_MIN) return -lam;
    if (lam < x * DBL_MIN) return isfinite(x) ? -lam + x * log(lam) - lgx1 : -INFINITY;
    return c1 + (-c2 - bd0(x, lam));
}

static double aic_value(const Problem *P, const double *mu) {
    double s = 0.0;
    if (P->aic_kind == AIC_BINOMIAL) {
        for (int i = 0; i < P->n; i++)
            s += P->a_coef[i] * dbinom_raw_log(P->a_x[i], P->a_n[i], mu[i], P->a_c1[i], P->a_c2[i]);
        return -2.0 * s;
    }
    for (int i = 0; i < P->n; i++)
        s += dpois_log(P->a_x[i], mu[i], P->a_c1[i], P->a_c2[i], P->a_n[i]) * P->pw[i];
    return -2.0 * s;
}

/* eta = offset + sum_k theta_k z_k u_k[code_k] (+ X beta); mu; deviance residuals; returns pdev */
static double update(const Problem *P, const double *theta, const double *offset, const double *u, const double *beta,
                     int joint, int q, double *eta, double *mu, double *ex, double *dr, double *sum_dev) {
    int n = P->n, K = P->K, p = P->p;
    double sd = 0.0, su = 0.0;
    for (int i = 0; i < n; i++) {
        double e = offset[i];
        e += theta[0] * P->zval[i] * u[P->codes[i]];
        for (int k = 1; k < K; k++)
            e += theta[k] * P->zval[(size_t)k * n + i] * u[P->L1 + P->offs[k] + P->codes[(size_t)k * n + i]];
        if (joint)
            for (int c = 0; c < p; c++) e += P->X[(size_t)i * p + c] * beta[c];
        eta[i] = e;
        if (P->link == LINK_LOGIT) {          /* keep exp(-eta): the next mu_eta reuses it when eta >= 0 */
            double x = exp(-e);
            ex[i] = x;
            mu[i] = cpp_max(EPS, cpp_min(1.0 - EPS, 1.0 / (1.0 + x)));
        } else {
            mu[i] = linkinv(P->link, e);
        }
        dr[i] = dev_resid(P, P->y[i], mu[i], P->pw[i]);
        sd += dr[i];
    }
    for (int j = 0; j < q; j++) su += u[j] * u[j];
    *sum_dev = sd;
    return sd + su;
}

/* The sums of one iteration's weighted system that do not depend on theta (theta scales them when the
 * system is assembled), laid out in one block of doubles (offsets below; P = the data's p):
 * d1u (L1): sum w z0^2 per first-term level; c1u (L1): sum w z0 z; pvu (npairs): sum w z0 zk per pair;
 * Su (m_r x m_r, lower): sum w zk zl; cru (m_r): sum w zk z; bxu (L1 x P): sum w x z0 per level;
 * Sxr (P x m_r): sum w x zk; xtx (P(P+1)/2, packed lower): sum w x x'; crx (P): sum w x z.
 * With the fixed effects (with_x), or for the u-only first-iteration cache, the x sums are taken too. */
typedef struct { double *d1u, *c1u, *pvu, *Su, *cru, *bxu, *Sxr, *xtx, *crx; } Sums;

static size_t sums_size(const Problem *P) {
    size_t L1 = P->L1, m_r = P->m_r, p = P->p;
    return 2 * L1 + P->npairs + m_r * m_r + m_r + L1 * p + p * m_r + p * (p + 1) / 2 + p + 1;
}

static Sums sums_at(const Problem *P, double *block) {
    Sums S;
    size_t L1 = P->L1, m_r = P->m_r, p = P->p;
    S.d1u = block; block += L1;
    S.c1u = block; block += L1;
    S.pvu = block; block += P->npairs;
    S.Su = block; block += m_r * m_r;
    S.cru = block; block += m_r;
    S.bxu = block; block += L1 * p;
    S.Sxr = block; block += p * m_r;
    S.xtx = block; block += p * (p + 1) / 2;
    S.crx = block;
    return S;
}

static void accumulate(const Problem *P, const double *w, const double *z, int with_x, double *block, int *ga) {
    int n = P->n, K = P->K, p = P->p, m_r = P->m_r;
    Sums T = sums_at(P, block);
    memset(block, 0, sizeof(double) * sums_size(P));
    for (int i = 0; i < n; i++) {
        double wi = w[i], zi = z[i];
        int j = P->codes[i];
        double z0 = P->zval[i], wz0 = wi * z0;
        T.d1u[j] += wz0 * z0;
        T.c1u[j] += wz0 * zi;
        for (int k = 1; k < K; k++) {
            double zk = P->zval[(size_t)k * n + i], wzk = wi * zk;
            ga[k] = P->offs[k] + P->codes[(size_t)k * n + i];
            T.pvu[P->pair_of_row[(size_t)(k - 1) * n + i]] += wz0 * zk;
            T.cru[ga[k]] += wzk * zi;
            for (int l = 1; l <= k; l++) {
                int a = ga[k], b = ga[l];
                if (a < b) { int t = a; a = b; b = t; }
                T.Su[(size_t)a * m_r + b] += wzk * P->zval[(size_t)l * n + i];
            }
        }
        if (with_x && p) {
            const double *restrict xi = P->X + (size_t)i * p;
            double *restrict bxj = T.bxu + (size_t)j * p;
            for (int c = 0; c < p; c++) {
                double wx = wi * xi[c];
                bxj[c] += wx * z0;
                T.crx[c] += wx * zi;
                for (int k = 1; k < K; k++) T.Sxr[(size_t)c * m_r + ga[k]] += wx * P->zval[(size_t)k * n + i];
                double *restrict xrow = T.xtx + (size_t)c * (c + 1) / 2;
                for (int d = 0; d <= c; d++) xrow[d] += wx * xi[d];
            }
        }
    }
}

/*
 * One evaluation.  theta: K values in the kernel's term order; offset0: the data's offset; beta0: the
 * fixed effects of the u-only update (their X beta0 joins the offset; ignored when joint); eta0: the
 * start (offset0 included); eta, mu (n), u (L1 + m_r) and beta (p) out; rx (p x p, joint only): the
 * lower-triangular factor of the fixed effects' Schur complement of the last iteration's system, R_X';
 * w_out, z_out (n, or NULL): that system's working weights and working response (offset excluded).
 * out: pdev, ldL2, sum u^2, sum of deviance residuals, aic (NaN when computed in Python), iterations.
 *
 * cache (sums_size doubles, or NULL), cache_mode 0 / 1 (fill) / 2 (use): the first iteration's weights
 * and working response depend only on eta0 and offset0, not on theta (and, u-only, on beta0 only through
 * z = z(beta = 0) - X beta0): its theta-free sums are taken once per (eta0, offset0) and reused.  The
 * caller keeps one cache per start.  Returns OK or an ERR_ code.
 */
int mc_glmm_pirls(const Problem *P, const double *theta, int joint, double tol, int maxit,
                  const double *offset0, const double *beta0, const double *eta0, double *eta, double *mu,
                  double *u, double *beta, double *rx, double *w_out, double *z_out, double *out,
                  double *cache, int cache_mode) {
    int n = P->n, K = P->K, p = joint ? P->p : 0, pd = P->p, m_r = P->m_r, L1 = P->L1;
    int m = m_r + p, q = L1 + m_r, status = OK, converged = 0, it = 0;
    size_t mm = (size_t)m * (size_t)m, nsum = sums_size(P);
    double *w = malloc(sizeof(double) * n), *z = malloc(sizeof(double) * n), *dr = malloc(sizeof(double) * n);
    double *uprev = calloc(q, sizeof(double)), *bprev = calloc(p + 1, sizeof(double));
    double *d1 = malloc(sizeof(double) * L1), *c1 = malloc(sizeof(double) * L1);
    double *pv = malloc(sizeof(double) * (P->npairs + 1)), *S = malloc(sizeof(double) * (mm + 1));
    double *cr = malloc(sizeof(double) * (m + 1)), *bx = malloc(sizeof(double) * ((size_t)L1 * p + 1));
    double *gv = malloc(sizeof(double) * (m + 1)), *colth = malloc(sizeof(double) * (m_r + 1));
    int *gi = malloc(sizeof(int) * (m + 1)), *ga = malloc(sizeof(int) * (K + 1));
    double *offset = malloc(sizeof(double) * n), *ex = malloc(sizeof(double) * n);
    int *first = malloc(sizeof(int) * (m + 1));
    double *sums = malloc(sizeof(double) * nsum);
    double ldL2 = 0.0, pdev = 0.0, oldpdev = DBL_MAX, sum_dev = 0.0;
    if (!w || !z || !dr || !uprev || !bprev || !d1 || !c1 || !pv || !S || !cr || !bx || !gv || !colth || !gi
        || !ga || !offset || !ex || !first || !sums) {
        status = ERR_MEMORY;
        goto done;
    }
    if (!cache) cache_mode = 0;
    for (int k = 1; k < K; k++) {
        int nl = ((k + 1 < K) ? P->offs[k + 1] : m_r) - P->offs[k];
        for (int a = 0; a < nl; a++) colth[P->offs[k] + a] = theta[k];
    }
    for (int i = 0; i < n; i++) {
        double o = offset0[i];
        if (!joint)
            for (int c = 0; c < pd; c++) o += P->X[(size_t)i * pd + c] * beta0[c];
        offset[i] = o;
        eta[i] = eta0[i];
        mu[i] = linkinv(P->link, eta[i]);
        if (P->link == LINK_LOGIT) ex[i] = exp(-eta[i]);
    }
    for (int c = 0; c < p; c++) beta[c] = 0.0;

    for (it = 1; it <= maxit; it++) {
        Sums T;
        int cached = (it == 1 && cache_mode != 0);
        if (!(cached && cache_mode == 2)) {
            /* working weights and response; with the cache, the first iteration's response is taken
             * against offset0 (beta = 0) and X beta0 is subtracted in the sums below */
            const double *zoff = cached ? offset0 : offset;
            for (int i = 0; i < n; i++) {
                double me;
                if (P->link == LINK_LOGIT) {      /* dlogis: e / (1 + e)^2 with e = exp(-|eta|) */
                    double e = (eta[i] >= 0.0) ? ex[i] : exp(eta[i]), f = 1.0 + e;
                    me = cpp_max(EPS, e / (f * f));
                } else {
                    me = mu_eta(P->link, eta[i]);
                }
                w[i] = me * me * P->pw[i] / variance(P, mu[i]);
                z[i] = (eta[i] - zoff[i]) + (P->y[i] - mu[i]) / me;
                /* a negative weight is NaN in lme4, which takes its square root */
                if (!isfinite(w[i]) || !(w[i] >= 0.0) || !isfinite(z[i])) { status = ERR_NAN; goto done; }
            }
            accumulate(P, w, z, p > 0 || cached, cached ? cache : sums, ga);
        }
        T = sums_at(P, cached ? cache : sums);
        /* assemble the system from the sums: theta scales them; u-only with the cache: minus X beta0 */
        const double t0 = theta[0];
        for (int j = 0; j < L1; j++) {
            double c = T.c1u[j];
            if (cached && !joint)
                for (int e = 0; e < pd; e++) c -= beta0[e] * T.bxu[(size_t)j * pd + e];
            d1[j] = t0 * t0 * T.d1u[j] + 1.0;
            c1[j] = t0 * c;
        }
        for (int k = 0; k < P->npairs; k++) pv[k] = t0 * colth[P->pair_dense[k]] * T.pvu[k];
        memset(S, 0, sizeof(double) * (mm + 1));
        for (int a = 0; a < m_r; a++) {
            double c = T.cru[a];
            if (cached && !joint)
                for (int e = 0; e < pd; e++) c -= beta0[e] * T.Sxr[(size_t)e * m_r + a];
            cr[a] = colth[a] * c;
            for (int b = 0; b <= a; b++) S[(size_t)a * m + b] = colth[a] * colth[b] * T.Su[(size_t)a * m_r + b];
            S[(size_t)a * m + a] += 1.0;
        }
        for (int c = 0; c < p; c++) {
            double *Srow = S + (size_t)(m_r + c) * m;
            for (int a = 0; a < m_r; a++) Srow[a] = colth[a] * T.Sxr[(size_t)c * m_r + a];
            for (int d = 0; d <= c; d++) Srow[m_r + d] = T.xtx[(size_t)c * (c + 1) / 2 + d];
            cr[m_r + c] = T.crx[c];
        }
        for (size_t t = 0; t < (size_t)L1 * p; t++) bx[t] = t0 * T.bxu[t];
        /* Schur complement of the first block, level by level */
        for (int j = 0; j < L1; j++) {
            int g = 0;
            for (int k = P->colptr[j]; k < P->colptr[j + 1]; k++) { gi[g] = P->pair_dense[k]; gv[g] = pv[k]; g++; }
            for (int c = 0; c < p; c++) { gi[g] = m_r + c; gv[g] = bx[(size_t)j * p + c]; g++; }
            double inv = 1.0 / d1[j], cj = c1[j] * inv;
            if (g > 0 && gi[g - 1] - gi[0] == g - 1) {       /* consecutive columns: contiguous rows */
                for (int s = 0; s < g; s++) {
                    double vs = gv[s] * inv, *Srow = S + (size_t)gi[s] * m + gi[0];
                    for (int t = 0; t <= s; t++) Srow[t] -= vs * gv[t];
                    cr[gi[s]] -= gv[s] * cj;
                }
                continue;
            }
            for (int s = 0; s < g; s++) {
                double vs = gv[s] * inv;
                size_t row = (size_t)gi[s] * m;
                for (int t = 0; t <= s; t++) S[row + gi[t]] -= vs * gv[t];
                cr[gi[s]] -= gv[s] * cj;
            }
        }
        /* Cholesky of the Schur complement (lower, row-major), within its envelope: row a's factor
         * starts where its first nonzero is (nested designs make it diagonal) */
        ldL2 = 0.0;
        for (int j = 0; j < L1; j++) ldL2 += log(d1[j]);
        for (int a = 0; a < m; a++) {
            const double *Sa = S + (size_t)a * m;
            int f = 0;
            while (f < a && Sa[f] == 0.0) f++;
            first[a] = f;
        }
        for (int a = 0; a < m; a++) {
            double *Sa = S + (size_t)a * m;
            for (int b = first[a]; b <= a; b++) {
                double *Sb = S + (size_t)b * m, s = Sa[b];
                for (int k = (first[a] > first[b]) ? first[a] : first[b]; k < b; k++) s -= Sa[k] * Sb[k];
                if (a == b) {
                    if (!(s > 0.0)) { status = ERR_RX; goto done; }
                    Sa[a] = sqrt(s);
                } else {
                    Sa[b] = s / Sb[b];
                }
            }
            if (a < m_r) ldL2 += 2.0 * log(Sa[a]);
        }
        /* solve: forward, back, then the first block */
        for (int a = 0; a < m; a++) {
            double s = cr[a];
            for (int k = first[a]; k < a; k++) s -= S[(size_t)a * m + k] * cr[k];
            cr[a] = s / S[(size_t)a * m + a];
        }
        for (int a = m - 1; a >= 0; a--) {
            double s = cr[a];
            for (int k = a + 1; k < m; k++)
                if (first[k] <= a) s -= S[(size_t)k * m + a] * cr[k];
            cr[a] = s / S[(size_t)a * m + a];
        }
        for (int j = 0; j < L1; j++) {
            double s = c1[j];
            for (int k = P->colptr[j]; k < P->colptr[j + 1]; k++) s -= pv[k] * cr[P->pair_dense[k]];
            for (int c = 0; c < p; c++) s -= bx[(size_t)j * p + c] * cr[m_r + c];
            u[j] = s / d1[j];
        }
        for (int a = 0; a < m_r; a++) u[L1 + a] = cr[a];
        for (int c = 0; c < p; c++) beta[c] = cr[m_r + c];
        pdev = update(P, theta, offset, u, beta, joint, q, eta, mu, ex, dr, &sum_dev);
        if (fabs((oldpdev - pdev) / pdev) < tol) { converged = 1; break; }
        if (isnan(pdev) || pdev > oldpdev) {
            for (int h = 0; h < MAX_STEP_HALVINGS; h++) {
                if (!(isnan(pdev) || pdev > oldpdev)) break;
                for (int j = 0; j < q; j++) u[j] = (uprev[j] + u[j]) / 2.0;
                for (int c = 0; c < p; c++) beta[c] = (bprev[c] + beta[c]) / 2.0;
                pdev = update(P, theta, offset, u, beta, joint, q, eta, mu, ex, dr, &sum_dev);
            }
            if (isnan(pdev)) { status = ERR_NAN; goto done; }
            if (pdev - oldpdev > tol) { status = ERR_HALVING; goto done; }
        }
        oldpdev = pdev;
        memcpy(uprev, u, sizeof(double) * q);
        if (p) memcpy(bprev, beta, sizeof(double) * p);
    }
    if (!converged) { status = ERR_MAXIT; it = maxit; }
    else {
        double su = 0.0;
        for (int j = 0; j < q; j++) su += u[j] * u[j];
        out[0] = pdev;
        out[1] = ldL2;
        out[2] = su;
        out[3] = sum_dev;
        out[4] = (P->aic_kind == AIC_NONE) ? NAN : aic_value(P, mu);
        for (int c = 0; c < p; c++)
            for (int d = 0; d < p; d++) rx[c * p + d] = (d <= c) ? S[(size_t)(m_r + c) * m + m_r + d] : 0.0;
        if (w_out) memcpy(w_out, w, sizeof(double) * n);
        if (z_out) memcpy(z_out, z, sizeof(double) * n);
    }
    out[5] = (double)it;
done:
    free(w); free(z); free(dr); free(uprev); free(bprev); free(d1); free(c1); free(pv); free(S); free(cr);
    free(bx); free(gv); free(colth); free(gi); free(ga); free(offset); free(ex); free(first); free(sums);
    return status;
}
