"""Plots and widgets (plotly for interactive, seaborn for static). One module per topic:
``results`` (confusion matrices, paper-vs-ours), ``magnify`` (magnification figures), ``data`` (dataset tours).
"""
