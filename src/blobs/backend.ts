/** Where blob content lives. The metadata row is always in PostgreSQL; the content goes to a backend. */
export interface BlobBackend {
  readonly kind: string;
}
