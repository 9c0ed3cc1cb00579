// Registers every admin and key command group of kmipctl (issue 7, "Admin interface").
import type { Command } from 'commander';
import { registerTenantCommands } from './tenant.ts';
import { registerServiceCommands } from './service.ts';
import { registerIdentityCommands } from './identity.ts';
import { registerCertCommands } from './cert.ts';
import { registerRoleCommands } from './role.ts';
import { registerGrantCommands } from './grant.ts';
import { registerL1Commands } from './l1.ts';
import { registerAuditCommands } from './audit.ts';
import { registerStatusCommand } from './status.ts';
import { registerKeyCommands } from './key.ts';

export function registerAdminCommands(program: Command): void {
  registerStatusCommand(program);
  registerTenantCommands(program);
  registerServiceCommands(program);
  registerIdentityCommands(program);
  registerCertCommands(program);
  registerRoleCommands(program);
  registerGrantCommands(program);
  registerL1Commands(program);
  registerAuditCommands(program);
  registerKeyCommands(program);
}
