"""Tested lesson code: every Python listing on the course site is included from here."""
