/**
 * The server's logs in the "vivavoce" log channel, each record once. `vivavoce lsp` sends its
 * records as window/logMessage (the language client logs them at their level) and also writes
 * them to stderr (`FORMAT` in server/vivavoce/logs.py: `2026-01-02 03:04:05,678 INFO
 * vivavoce.lsp.server: text`), which the client would log again, every line as an error. Here
 * a stderr record that window/logMessage already carried (or carries within `HOLD_MS`) is
 * dropped; the rest of stderr (the embedded peer's records, pygls', a traceback, a crash before
 * the server speaks LSP) is shown at its own level. No `vscode` import.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LogLine {
  level: LogLevel;
  text: string;
}

const RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$/;
const LEVELS: Record<string, LogLevel> = { DEBUG: "debug", INFO: "info", WARNING: "warn", ERROR: "error", CRITICAL: "error" };
/** How long a stderr record waits for its window/logMessage copy (which usually comes first). */
export const HOLD_MS = 300;
/** How long a window/logMessage text waits for its stderr copy. */
const REMEMBER_MS = 5000;

interface Held {
  line: LogLine;
  message: string;
  timer: ReturnType<typeof setTimeout>;
}

/** Merges the server's stderr with its window/logMessage notifications; `show` gets each line once. */
export class ServerLog {
  /** window/logMessage texts whose stderr copy has not come yet, oldest first. */
  private readonly logged: { text: string; at: number }[] = [];
  /** Stderr records waiting for their window/logMessage copy. */
  private readonly held: Held[] = [];
  /** Continuation lines of the last dropped record still expected on stderr. */
  private skip: string[] = [];
  /** Level of the last record: the lines that continue it (a traceback) are shown at it. */
  private level: LogLevel = "error";

  constructor(
    private readonly show: (line: LogLine) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** A message the language client logged (window/logMessage, or its own). */
  logMessage(text: string): void {
    const [first = "", ...rest] = text.split("\n");
    const index = this.held.findIndex((h) => h.message === first);
    const held = this.held[index];
    if (held) {
      clearTimeout(held.timer);
      this.held.splice(index, 1);
      return;
    }
    const now = this.now();
    while (this.logged.length > 0 && (this.logged[0]?.at ?? now) < now - REMEMBER_MS) this.logged.shift();
    this.logged.push({ text: [first, ...rest].join("\n"), at: now });
  }

  /** One line of the server's stderr. */
  stderr(line: string): void {
    const record = RECORD.exec(line);
    if (!record) {
      if (this.skip[0] === line) {
        this.skip.shift();
      } else if (line.trim()) {
        this.skip = [];
        this.emit({ level: this.level, text: line });
      }
      return;
    }
    const [, levelName = "ERROR", logger = "", message = ""] = record;
    this.level = LEVELS[levelName] ?? "error";
    this.skip = [];
    const index = this.logged.findIndex((l) => l.text === message || l.text.startsWith(`${message}\n`));
    const logged = this.logged[index];
    if (logged) {
      this.logged.splice(index, 1);
      this.skip = logged.text.split("\n").slice(1);
      return;
    }
    const shown = { level: this.level, text: `${logger}: ${message}` };
    if (!logger.startsWith("vivavoce")) {
      this.emit(shown);
      return;
    }
    const held: Held = {
      line: shown,
      message,
      timer: setTimeout(() => {
        this.held.splice(this.held.indexOf(held), 1);
        this.show(held.line);
      }, HOLD_MS),
    };
    this.held.push(held);
  }

  /** Shows what is held at once (the server stopped). */
  flush(): void {
    for (const held of this.held.splice(0)) {
      clearTimeout(held.timer);
      this.show(held.line);
    }
  }

  private emit(line: LogLine): void {
    this.flush(); // keep stderr's order
    this.show(line);
  }
}
