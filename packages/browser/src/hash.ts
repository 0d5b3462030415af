import type { SdkElement } from '@csp-lens/schema';

/**
 * Sets `el.hash` to the `sha256-…` of `text`, once computed: the source a policy needs to allow
 * this inline code. Never awaited: the digest finishes off the listener's path, and a batch that
 * leaves first (unload) goes without it. crypto.subtle exists in secure contexts only. Texts past
 * 16 Ki characters are not hashed: encoding and starting the digest do run in the listener, and
 * took ~70 µs for 16 KiB, ~1 ms for 64 KiB in Chromium 156 (~10 µs for 200 characters).
 */
export function hashInline(text: string | null | false, el: SdkElement): void {
  // `?.`: null (the attribute removed since) and false (not a script or style) are no text; no
  // crypto.subtle (not a secure context) ends the whole chain.
  if ((text as string)?.length <= 16384) {
    crypto.subtle?.digest('SHA-256', new TextEncoder().encode(text as string)).then(
      (d) => (el.hash = 'sha256-' + btoa(String.fromCharCode(...new Uint8Array(d)))),
      // Never an unhandled rejection in the page.
      () => {},
    );
  }
}
