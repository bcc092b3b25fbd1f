import { parse } from 'yaml';

/** The apiserver flags NOTES.txt prints (`--name=value` at the start of a line). */
export function flagsIn(notes: string): Map<string, string> {
  const flags = new Map<string, string>();
  for (const match of notes.matchAll(/^\s*--([a-z-]+)=(\S+)\s*$/gm)) flags.set(match[1]!, match[2]!);
  return flags;
}

/**
 * The webhook kubeconfig NOTES.txt prints as a shell heredoc, with its
 * `${VAR}`s replaced as the shell would (every one must be given), parsed.
 */
export function kubeconfigIn(notes: string, variables: Readonly<Record<string, string>>): unknown {
  const match = /^cat > webhook\.kubeconfig <<EOF\n([\s\S]*?)\nEOF$/m.exec(notes);
  if (match === null) throw new Error(`no webhook kubeconfig heredoc in the notes:\n${notes}`);
  const text = match[1]!.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const value = variables[name];
    if (value === undefined)
      throw new Error(`the kubeconfig uses \${${name}}, which the test did not provide`);
    return value;
  });
  return parse(text);
}

/** The shell variables NOTES.txt sets before the heredoc (`NAME=...` lines), as written. */
export function shellVariablesIn(notes: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const match of notes.matchAll(/^([A-Z_]+)=(.*)$/gm)) vars.set(match[1]!, match[2]!);
  return vars;
}
