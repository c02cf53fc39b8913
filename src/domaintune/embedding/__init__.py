"""The sentence-embedding family, shared by the tasks whose model is a sentence encoder (similarity, tsdae,
simcse, and mlm's encoder read as one): the predictor (torch and exported) and what their runs report."""
