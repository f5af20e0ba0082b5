import { InputError } from '@backstage/errors';
import {
  makeValidator,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';

const validators = makeValidator();

/**
 * An entity ref from a query or body (`[kind:][namespace/]name`, `defaultKind` and the default
 * namespace filled in), in its canonical form; or an InputError naming the parameter and what is
 * wrong with it. Stricter than `parseEntityRef`, which accepts any non-empty parts: the kind,
 * namespace (either in any case) and name must each be one the catalog could hold (a name of letters, digits and
 * `-_.`, at most 63 characters), so a ref no entity can have is refused rather than looked up.
 */
export function entityRefInput(
  value: string,
  options: { defaultKind: string; parameter: string },
): string {
  let ref;
  try {
    ref = parseEntityRef(value, {
      defaultKind: options.defaultKind,
      defaultNamespace: 'default',
    });
  } catch (error) {
    throw new InputError(
      `${options.parameter} "${value}": ${(error as Error).message}`,
    );
  }
  // Refs are case-insensitive in kind and namespace (the catalog compares them lowercased).
  const checks: Array<['kind' | 'namespace' | 'name', boolean]> = [
    ['kind', validators.isValidKind(ref.kind)],
    [
      'namespace',
      validators.isValidNamespace(ref.namespace.toLocaleLowerCase('en-US')),
    ],
    ['name', validators.isValidEntityName(ref.name)],
  ];
  const invalid = checks.find(([, valid]) => !valid)?.[0];
  if (invalid) {
    throw new InputError(
      `${options.parameter} "${value}": "${ref[invalid]}" is not a valid entity ${invalid}`,
    );
  }
  return stringifyEntityRef(ref);
}
