// Typeset math with the KaTeX copy vendored in docs/assets/katex (no CDN: the site works offline).
// Material's instant navigation swaps page bodies, so render on every document$ emission.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
