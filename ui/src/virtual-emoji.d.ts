declare module 'virtual:emoji' {
  /** [emoji, name, group, search words], in Unicode's order (see emoji-data.ts). */
  const rows: [string, string, number, string][];
  export default rows;
}
