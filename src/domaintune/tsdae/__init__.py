"""Task `tsdae`: a denoising auto-encoder adapts a sentence encoder on raw domain text (recipe, noise, task)."""
