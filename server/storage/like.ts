/** A search term as a LIKE pattern that matches it anywhere, its wildcards escaped (literal). */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
