// Type declarations of signalgate-client.js (the same file the gateway serves at
// /signalgate-client.js). Hand-written from the module's JSDoc; keep both in step.

/** A `monitor_signal_snapshot` row as the gateway sends it. */
export interface Snapshot {
  variant: string;
  instance_id: string;
  version: number;
  updated_at: string;
  bar_dt: string | null;
  bar_interval: string | null;
  bar_window: number | null;
  payload: unknown;
}

/** A numbered `monitor_signal_event` row as the gateway sends it. */
export interface Event {
  id: number;
  seq: number;
  variant: string;
  instance_id: string;
  vt_symbol: string;
  bar_dt: string | null;
  event_type: string;
  event_key: string;
  created_at: string;
  payload: unknown;
}

/** A protocol error. */
export interface ProtocolError {
  code: string;
  message: string;
}

/** A successful subscribe ack. */
export interface OkAck {
  ok: true;
  variant: string;
  snapshots: Snapshot[];
  events: Event[];
  seq: number;
  truncated: boolean;
  /** The variant's history epoch (send it back with `since_seq` when resuming). */
  epoch?: string;
  /** The `since_seq` sent belonged to another epoch: the ack starts from scratch. */
  reset?: boolean;
  [key: string]: unknown;
}

/** The subscribe/unsubscribe ack. */
export type Ack = OkAck | { ok: false; error: ProtocolError };

/** An `Error` carrying a protocol or helper error code (`gap_fill_failed`, `timeout`, ...). */
export interface CodedError extends Error {
  code: string;
}

export interface SubscribeOptions {
  /** Only this strategy instance. */
  instanceId?: string;
  /** Only events of these symbols. */
  vtSymbols?: string[];
  /** Resume after this seq (events with seq > sinceSeq are replayed). */
  sinceSeq?: number;
  /** A snapshot newer than the last one seen per instance. */
  onSnapshot?: (s: Snapshot) => void;
  /** Each event once, ascending seq. */
  onEvent?: (e: Event) => void;
  /** After each successful (re)subscribe has been applied. */
  onAck?: (a: OkAck) => void;
  /** A failed resubscribe or gap fill. */
  onError?: (err: CodedError) => void;
  /** The server's replay was cut short; the helper pages the gap over REST. */
  onTruncated?: (gap: { variant: string; fromSeq: number | undefined; toSeq: number }) => void;
  /** The variant's history was replaced: drop everything shown for it. */
  onReset?: (r: { variant: string; epoch: string }) => void;
}

/** A socket.io `auth` option: an object or a function called on every (re)connect. */
export type AuthOption = { token?: string; [key: string]: unknown } | ((cb: (data: object) => void) => void);

export interface ClientOptions {
  /** socket.io's `io` function (default: a global `io`, else `import("socket.io-client")`). */
  io?: (url: string, opts?: object) => unknown;
  /** Options passed to `io(url, ...)`, e.g. `{ auth: { token }, transports: ["websocket"] }`. */
  socketOptions?: { auth?: AuthOption; [key: string]: unknown };
  /** `fetch` for the REST gap fill (default `globalThis.fetch`). */
  fetch?: (url: string, init?: { headers?: Record<string, string> }) => Promise<{ ok: boolean; status: number; json(): Promise<any> }>;
  /** REST base URL if it differs from the socket URL. */
  restUrl?: string;
  /** How long `unsubscribe()` waits for its ack (10000). */
  ackTimeoutMs?: number;
  /** First delay of the helper's own reconnect (500), doubled per failure. */
  reconnectDelayMs?: number;
  /** Upper bound of that delay (10000). */
  reconnectMaxDelayMs?: number;
  /** The server announced its shutdown; the helper reconnects at once unless `reconnect` is false. */
  onShutdown?: (msg: { reconnect: boolean; reason: string }) => void;
}

export class SignalgateClient {
  constructor(url: string, options?: ClientOptions);
  /** The socket.io socket (null until socket.io-client is loaded). */
  socket: any;
  /** Subscribes to a variant; resolves with the first successful ack, rejects if refused. */
  subscribe(variant: string, opts?: SubscribeOptions): Promise<OkAck>;
  /** Stops delivering `variant` and tells the server. */
  unsubscribe(variant: string): Promise<{ ok: true }>;
  /** The last seq seen for `variant` (delivered, skipped by a filter, or an ack's `seq`). */
  lastSeq(variant: string): number | undefined;
  /** Disconnects and drops every subscription; pending subscribe() promises reject. */
  close(): void;
}

export default SignalgateClient;
