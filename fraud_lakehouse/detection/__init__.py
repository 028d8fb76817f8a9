"""Fraud detection: rule families as pure DataFrame functions, the score that combines them, and quality."""
