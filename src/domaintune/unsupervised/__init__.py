"""Shared by the tasks that adapt a sentence encoder without labels (tsdae, simcse): the corpus and evaluation
sections of their recipes, and their run, top to bottom, around each task's training objective."""
