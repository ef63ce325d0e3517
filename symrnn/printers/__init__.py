"""Printers for the lecture's notation (text, LaTeX, a parseable form) and the escaping of user names for LaTeX."""
from .lecture import document_latex, latex, latex_pieces, parseable, text

__all__ = ["text", "latex", "document_latex", "latex_pieces", "parseable"]
