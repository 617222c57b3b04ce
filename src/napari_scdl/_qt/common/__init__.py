"""Parts every panel shares: the sample selector, the runner (progress and Cancel), the
generated parameter form, result layers, legends, plot canvases and table models."""
