import { vocabulary } from '../../registry/vocabularies.js';

/**
 * Disability Registry code lists. Disability status is DCI's (DIGEST 5: 0 Approved, 1 Pending, 2 Expired). Levels and
 * impairment qualifiers follow the WHO ICF generic qualifier; impairment types group ICF body-function chapters the
 * way national disability registries certify them; functional limitations (the Washington Group short set) are the
 * registry's `disability_info` vocabulary. Samples send labels ("Severe impairment or difficulty"): mapped by synonym.
 */

export const DISABILITY_STATUS = vocabulary('disability_status', [
  [0, 'Approved'],
  [1, 'Pending'],
  [2, 'Expired'],
] as const, { certified: 0, approved: 0, assessed: 0, 'in review': 1 });

export const DISABILITY_LEVEL = vocabulary('disability_level', [
  ['mild', 'Mild'],
  ['moderate', 'Moderate'],
  ['severe', 'Severe'],
  ['complete', 'Complete'],
] as const, { profound: 'complete', 'mild impairment or difficulty': 'mild', 'moderate impairment or difficulty': 'moderate', 'severe impairment or difficulty': 'severe', 'complete impairment or difficulty': 'complete' });

export const IMPAIRMENT_TYPE = vocabulary('impairment_type', [
  ['physical', 'Physical and movement related functions (ICF b7)'],
  ['visual', 'Seeing functions (ICF b210-b229)'],
  ['hearing', 'Hearing and vestibular functions (ICF b230-b249)'],
  ['speech', 'Voice and speech functions (ICF b3)'],
  ['intellectual', 'Intellectual and developmental functions (ICF b117)'],
  ['psychosocial', 'Mental and psychosocial functions (ICF b1)'],
  ['multiple', 'Multiple impairments'],
  ['other', 'Other'],
] as const, {
  'physical and movement related functions': 'physical',
  mobility: 'physical',
  movement: 'physical',
  seeing: 'visual',
  vision: 'visual',
  blind: 'visual',
  deaf: 'hearing',
  communication: 'speech',
  cognitive: 'intellectual',
  developmental: 'intellectual',
  mental: 'psychosocial',
});

export const IMPAIRMENT_LEVEL = vocabulary('impairment_level', [
  ['mild', 'Mild impairment or difficulty'],
  ['moderate', 'Moderate impairment or difficulty'],
  ['severe', 'Severe impairment or difficulty'],
  ['complete', 'Complete impairment or difficulty'],
] as const, { profound: 'complete' });

export const IMPAIRMENT_CAUSE = vocabulary('impairment_cause', [
  ['congenital', 'Congenital'],
  ['illness', 'Illness'],
  ['accident', 'Accident'],
  ['work_accident', 'Work accident'],
  ['conflict', 'Conflict or violence'],
  ['ageing', 'Ageing'],
  ['other', 'Other'],
  ['unknown', 'Unknown'],
] as const, { disease: 'illness', 'road accident': 'accident', war: 'conflict', aging: 'ageing', birth: 'congenital' });

export const AGE_AT_ONSET = vocabulary('age_on_set', [
  ['at_birth', 'At birth'],
  ['childhood', 'Childhood'],
  ['working_age', 'Working age'],
  ['old_age', 'Old age'],
] as const, { birth: 'at_birth', congenital: 'at_birth', child: 'childhood', adult: 'working_age', elderly: 'old_age' });

/** The DisabilitySupport lists (DIGEST 6). */
export const SUPPORT_KINDS = ['human_assistance', 'assistive_technology', 'housing_support', 'medical_care', 'animal_assistance'] as const;
export type SupportKind = (typeof SUPPORT_KINDS)[number];

export const SUPPORT_STATUS = vocabulary('support_status', [
  ['needed', 'Needed'],
  ['received', 'Received'],
] as const, { required: 'needed', requested: 'needed', provided: 'received', given: 'received' });
