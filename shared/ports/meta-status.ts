/**
 * The latest account and quality state Meta reported for a WABA (`account_update`) or one of its
 * numbers (`phone_number_quality_update`): what the app's page shows next to each number.
 */
export interface MetaStatus {
  readonly wabaId: string;
  /** `quality`: of one number, named by `display_phone_number` (digits only); `account`: of the WABA. */
  readonly kind: "account" | "quality";
  readonly phoneDigits?: string;
  /** Meta's `event`, e.g. ACCOUNT_VIOLATION, FLAGGED, THROUGHPUT_UPGRADE. */
  readonly event: string;
  /** What else Meta said, readable: a violation type, a ban state, the new messaging limit. */
  readonly detail?: string;
  /** When Meta stamped it (the webhook entry's time), ISO. */
  readonly at: string;
}

export interface MetaStatusStore {
  /** Keeps the report unless a later one is already stored (webhooks can arrive out of order). */
  recordStatus(status: MetaStatus): Promise<void>;
  statusesOf(wabaId: string): Promise<MetaStatus[]>;
}
