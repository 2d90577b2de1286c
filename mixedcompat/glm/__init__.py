"""GLM families for glmer, as lme4 1.1-31 evaluates them: links (links.py), families (families.py),
the response and its initialisation (response.py), Gauss-Hermite rules (gauss_hermite.py), the
negative binomial's theta (negbin.py), and the R density functions they rest on (rmath.py).

Examples
--------
>>> from mixedcompat.glm import binomial
>>> binomial("probit").link.name
'probit'
"""
from __future__ import annotations

from mixedcompat.glm.families import (Family, Gamma, binomial, family_of, gaussian, inverse_gaussian,
                                      negative_binomial, poisson)
from mixedcompat.glm.gauss_hermite import GHrule
from mixedcompat.glm.links import Link, make_link
from mixedcompat.glm.negbin import est_theta, theta_ml
from mixedcompat.glm.response import GlmResponse, glm_response

__all__ = ["Family", "Link", "make_link", "binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian",
           "negative_binomial", "family_of", "glm_response", "GlmResponse", "GHrule", "theta_ml", "est_theta"]
