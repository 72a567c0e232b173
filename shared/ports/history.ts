/** The per-number switch for importing WhatsApp Business app history (coexistence), and its progress. */
export interface HistorySettings {
  readonly enabled: boolean;
  /** At most this many messages are imported for the number, over all history webhooks. */
  readonly maxMessages: number;
  readonly imported: number;
  /** Meta's `progress` (0–100) of the last history webhook seen, and its phase. */
  readonly progress?: number;
  readonly phase?: number;
  /** Meta's error when the business declined to share its history. */
  readonly error?: { code?: number; message: string };
  readonly updatedAt: string;
}

export interface HistoryStore {
  getHistorySettings(phoneId: string): Promise<HistorySettings | undefined>;
  /** Switches the import on or off; keeps the count. */
  putHistorySwitch(
    phoneId: string,
    enabled: boolean,
    maxMessages: number,
    at: string,
  ): Promise<HistorySettings>;
  /** Takes one message from the budget: false when the budget is spent (or the import is off). */
  takeHistoryBudget(phoneId: string): Promise<boolean>;
  /** Gives back a message taken but not imported (a duplicate, a failure). */
  returnHistoryBudget(phoneId: string): Promise<void>;
  recordHistoryProgress(
    phoneId: string,
    progress: { progress?: number; phase?: number; error?: { code?: number; message: string } },
    at: string,
  ): Promise<void>;
}
