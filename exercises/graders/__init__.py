"""One grader module per lesson; importing it registers that lesson's exercises."""
