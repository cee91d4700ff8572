// Go's time.Time as the CLI's views carry it: JSON (and `--format json`) has RFC 3339 with
// nanoseconds, as Go marshals it; a template prints time.String(), as podman's do
// ("2026-12-01 23:20:30.123456789 +0000 UTC").

const RFC3339 = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$/;

export class GoTime {
  private constructor(private readonly rfc3339: string) {}

  /** From RFC 3339 text (an offset is turned into UTC; an unparsable text is kept as it is). */
  static parse(text: string): GoTime {
    if (RFC3339.test(text)) return new GoTime(text);
    const ms = Date.parse(text);
    return new GoTime(Number.isNaN(ms) ? text : new Date(ms).toISOString());
  }

  /** From milliseconds since the epoch; null or 0 is Go's zero time. */
  static fromMs(ms: number | null | undefined): GoTime {
    return new GoTime(ms ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
  }

  toJSON(): string {
    return this.rfc3339;
  }

  /** Go's Stringer: what templates print. */
  String(): string {
    const m = RFC3339.exec(this.rfc3339);
    if (!m) return this.rfc3339;
    // Go's .999999999: trailing zeros of the fraction go, and so does an empty fraction.
    const frac = (m[3] ?? '').replace(/0+$/, '').replace(/^\.$/, '');
    return `${m[1]} ${m[2]}${frac} +0000 UTC`;
  }
}
