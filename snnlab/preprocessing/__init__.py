"""Preprocessors with a cache (BindsNET's ``bindsnet.preprocessing``)."""

from .preprocessing import AbstractPreprocessor

__all__ = ["AbstractPreprocessor"]
