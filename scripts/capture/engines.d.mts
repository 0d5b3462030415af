import type { BrowserContext, Page as PlaywrightPage } from 'playwright-core';
import type { Browser as PuppeteerBrowser, Page as PuppeteerPage } from 'puppeteer-core';

export type EngineName = 'chromium' | 'firefox' | 'webkit';

export const CHROMIUM: string;
export const FIREFOX: string;
export const WEBKIT_DRIVER: string;
export const MINIBROWSER: string;
export const XVFB: string;
export const ENGINES: EngineName[];
export const CHROMIUM_ARGS: string[];

/** One open page (a tab) of an engine. */
export interface EnginePage {
  /** Uncaught exceptions of the page so far; undefined where the engine cannot tell (WebKit). */
  readonly errors: string[] | undefined;
  /** Runs `fn` in the page with JSON arguments and returns its (awaited, JSON) result. */
  evaluate<R, A extends unknown[]>(fn: (...args: A) => R | Promise<R>, ...args: A): Promise<Awaited<R>>;
  /** Polls `fn` in the page until it returns something truthy (navigations in between are retried); throws after `timeoutMs` (30 s). */
  waitFor(fn: () => unknown, options?: { timeoutMs?: number; intervalMs?: number }): Promise<unknown>;
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  url(): Promise<string>;
  /**
   * Closes the tab: pagehide and unload run, so the SDK flushes. Firefox leaves the page for
   * about:blank first: its tabs closed over BiDi lost about half the beacons sent from pagehide.
   */
  close(): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  /** The fresh profile dir (temp), deleted by close() or when this process ends. */
  readonly profile: string;
  /** e.g. 156.0.8078.129, 153.8.0, 2.50.6 */
  readonly version: string;
  /** The fixture folder's version: 156, 153, 2.50. */
  readonly major: string;
  /** A new tab at `url`, after its load event. */
  open(url: string): Promise<EnginePage>;
  /** Ends the browser and every process started for it (driver, Xvfb) and deletes its profile; safe to call twice. */
  close(): Promise<void>;
}

export interface ChromiumEngine extends Engine {
  readonly name: 'chromium';
  readonly context: BrowserContext;
  open(url: string): Promise<EnginePage & { native: PlaywrightPage }>;
}

export interface FirefoxEngine extends Engine {
  readonly name: 'firefox';
  readonly browser: PuppeteerBrowser;
  open(url: string): Promise<EnginePage & { native: PuppeteerPage }>;
}

export interface WebKitEngine extends Engine {
  readonly name: 'webkit';
}

export function launch(name: EngineName): Promise<Engine>;
export function launchChromium(): Promise<ChromiumEngine>;
export function launchFirefox(): Promise<FirefoxEngine>;
export function launchWebKit(): Promise<WebKitEngine>;
