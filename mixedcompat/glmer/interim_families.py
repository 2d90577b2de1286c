"""INTERIM (lead, issue 12 in progress): binomial-logit and Poisson-log only, replaced by mixedcompat.glm (families, links, GHrule) when it lands."""
import numpy as np
from scipy.special import gammaln
from scipy.stats import binom, poisson as _pois
EPS = np.finfo(float).eps
class Binomial:
    family = "binomial"; link = "logit"
    def linkfun(self, mu): return np.log(mu/(1-mu))
    def linkinv(self, eta):
        e = np.exp(-np.abs(eta)); out = np.where(eta >= 0, 1/(1+e), e/(1+e))
        return np.clip(out, EPS, 1-EPS)
    def mu_eta(self, eta):
        e = np.exp(-np.abs(eta)); return np.maximum(e/(1+e)**2, EPS)
    def variance(self, mu): return mu*(1-mu)
    def dev_resids(self, y, mu, wt):
        with np.errstate(all="ignore"):
            a = np.where(y > 0, y*np.log(y/mu), 0.0); b = np.where(y < 1, (1-y)*np.log((1-y)/(1-mu)), 0.0)
        return 2*wt*(a+b)
    def aic(self, y, n, mu, wt, dev):
        m = n if np.any(n > 1) else wt
        return -2*np.sum(np.where(m > 0, wt/m, 0.0)*binom.logpmf(np.round(m*y), np.round(m), mu))
    def initialize(self, y, w):
        return (w*y + 0.5)/(w + 1)
class Poisson:
    family = "poisson"; link = "log"
    def linkfun(self, mu): return np.log(mu)
    def linkinv(self, eta): return np.maximum(np.exp(eta), EPS)
    def mu_eta(self, eta): return np.maximum(np.exp(eta), EPS)
    def variance(self, mu): return mu
    def dev_resids(self, y, mu, wt):
        with np.errstate(all="ignore"):
            r = np.where(y > 0, y*np.log(y/mu) - (y-mu), mu)
        return 2*wt*r
    def aic(self, y, n, mu, wt, dev): return -2*np.sum(_pois.logpmf(y, mu)*wt)
    def initialize(self, y, w): return y + 0.1
def family_of(spec):
    if isinstance(spec, str):
        return {"binomial": Binomial, "poisson": Poisson}[spec]()
    return spec
def glm_response(family, y, weights):
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    if family.family == "binomial":
        if y.ndim == 2:
            tot = y[:, 0] + y[:, 1]
            yy = np.where(tot == 0, 0.0, y[:, 0] / np.where(tot == 0, 1, tot))
            return yy, w * tot, tot, (tot * yy + 0.5) / (tot + 1)
        return y, w, np.ones(n), (w * y + 0.5) / (w + 1)
    return y, w, np.ones(n), family.initialize(y, w)
import numpy as np
def ghrule(k):
    x, w = np.polynomial.hermite.hermgauss(k)
    z = x * np.sqrt(2.0); w = w / np.sqrt(np.pi)
    return z, w, -0.5*z*z - 0.5*np.log(2*np.pi)
