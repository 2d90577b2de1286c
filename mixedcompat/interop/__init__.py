"""Interoperability with statsmodels (optional extra ``statsmodels``)."""
