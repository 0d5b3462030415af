// A user agent as a person names the browser: "Chrome 156", "Firefox 153", "Safari 18". Only for
// the group view's breakdown: the record keeps the whole string. Order matters: Edge and Opera say
// "Chrome" too, and Chrome says "Safari".
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bHeadlessChrome\/(\d+)/, 'Chrome (headless)'],
  [/\b(?:Chrome|CriOS|Chromium)\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)(?:\.\d+)*(?: Mobile\/\w+)? Safari\//, 'Safari'],
];

export function browserOf(userAgent: string | undefined): string {
  if (!userAgent) return '(unknown)';
  for (const [re, name] of BROWSERS) {
    const m = re.exec(userAgent);
    if (m) return `${name} ${m[1]}`;
  }
  // WebKit without Safari's Version (MiniBrowser, embedded web views).
  const webkit = /\bAppleWebKit\/(\d+)/.exec(userAgent);
  return webkit ? `WebKit ${webkit[1]}` : 'Other';
}
