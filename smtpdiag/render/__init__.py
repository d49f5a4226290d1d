"""Renderers: the probe transcript as text and JSON (``text``), the auth report (``auth``),
explanations of replies and bounces (``explain``)."""
