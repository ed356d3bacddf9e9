// Intentionally empty: notebooks get their math from the site-wide KaTeX (see katex-init.js).
