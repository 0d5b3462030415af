import type { SdkElement } from '@csp-lens/schema';

/**
 * Sets `el.hash` to the `sha256-…` of `text`, once computed: the source a policy needs to allow
 * this inline code. Never awaited: the digest runs off the listener's path, and a batch that
 * leaves first (unload) goes without it. crypto.subtle exists in secure contexts only. Texts past
 * 64 Ki characters are not hashed: the digest's cost grows with them, and a policy rarely allows
 * that much by hash.
 */
export function hashInline(text: string | null | false, el: SdkElement): void {
  const subtle = crypto.subtle;
  // `?.`: null (the attribute removed since) and false (not a script or style) are no text.
  if (subtle && (text as string)?.length <= 65536) {
    subtle.digest('SHA-256', new TextEncoder().encode(text as string)).then(
      (d) => (el.hash = 'sha256-' + btoa(String.fromCharCode(...new Uint8Array(d)))),
      // Never an unhandled rejection in the page.
      () => {},
    );
  }
}
