"""qa's version, in a module of its own so that any step can record it without importing the
package root (which would be an arrow from a lower step up to the API)."""

__version__ = "0.1.0"
