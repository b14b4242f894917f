/** Name, place and job pools for the demo population (a mixed, English-speaking fictional country). */

export const MALE_GIVEN_NAMES = [
  'James', 'John', 'Robert', 'Michael', 'William', 'David', 'Richard', 'Joseph', 'Thomas', 'Charles',
  'Daniel', 'Matthew', 'Anthony', 'Mark', 'Paul', 'Steven', 'Andrew', 'Joshua', 'Kenneth', 'Kevin',
  'Brian', 'George', 'Edward', 'Ronald', 'Timothy', 'Jason', 'Jeffrey', 'Ryan', 'Jacob', 'Gary',
  'Nicholas', 'Eric', 'Jonathan', 'Stephen', 'Samuel', 'Benjamin', 'Patrick', 'Peter', 'Henry', 'Adam',
  'Luke', 'Oliver', 'Lucas', 'Mateus', 'Tiago', 'Rafael', 'Pedro', 'Joao', 'Louis', 'Pierre',
  'Antoine', 'Hugo', 'Kwame', 'Kofi', 'Tendai', 'Tinashe', 'Amani', 'Baraka', 'Omar', 'Yusuf',
  'Ibrahim', 'Malik', 'Elias', 'Noah', 'Liam', 'Ethan', 'Aiden', 'Caleb', 'Isaac', 'Gabriel',
  'Owen', 'Felix', 'Arthur', 'Rowan', 'Declan', 'Finn', 'Tomas', 'Marcus', 'Victor', 'Simon',
] as const;

export const FEMALE_GIVEN_NAMES = [
  'Mary', 'Patricia', 'Jennifer', 'Linda', 'Elizabeth', 'Barbara', 'Susan', 'Jessica', 'Sarah', 'Karen',
  'Lisa', 'Nancy', 'Margaret', 'Sandra', 'Ashley', 'Emily', 'Donna', 'Michelle', 'Carol', 'Amanda',
  'Melissa', 'Deborah', 'Stephanie', 'Rebecca', 'Laura', 'Helen', 'Sharon', 'Cynthia', 'Kathleen', 'Amy',
  'Anna', 'Ruth', 'Grace', 'Hannah', 'Olivia', 'Emma', 'Sophia', 'Isabella', 'Mia', 'Charlotte',
  'Amelia', 'Harper', 'Evelyn', 'Abigail', 'Ella', 'Chloe', 'Lucy', 'Maria', 'Ana', 'Beatriz',
  'Leticia', 'Camila', 'Juliana', 'Claire', 'Amelie', 'Margot', 'Ama', 'Akosua', 'Chipo', 'Rudo',
  'Neema', 'Zawadi', 'Fatima', 'Aisha', 'Mariam', 'Zainab', 'Naomi', 'Esther', 'Miriam', 'Leah',
  'Rose', 'Iris', 'Nora', 'Ada', 'Tessa', 'Freya', 'Maeve', 'Siobhan', 'Anne-Marie', 'Josephine',
] as const;

export const SURNAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Wilson', 'Taylor', 'Anderson',
  'Thomas', 'Moore', 'Jackson', 'Martin', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Robinson',
  'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Green', 'Baker', 'Adams', 'Nelson',
  'Hill', 'Campbell', 'Mitchell', 'Roberts', 'Carter', 'Phillips', 'Evans', 'Turner', 'Parker', 'Collins',
  'Edwards', 'Stewart', 'Morris', 'Murphy', 'Cook', 'Rogers', 'Morgan', 'Cooper', 'Peterson', 'Reed',
  'Bailey', 'Bell', 'Kelly', 'Howard', 'Ward', 'Cox', 'Richardson', 'Wood', 'Watson', 'Brooks',
  'Bennett', 'Gray', 'Hughes', 'Price', 'Sanders', 'Myers', 'Long', 'Ross', 'Foster', 'Fletcher',
  "O'Brien", "O'Connor", 'McCarthy', 'Byrne', 'Doyle', 'Quinn', 'Gallagher', 'Kennedy', 'Lynch', 'Walsh',
  'Silva', 'Santos', 'Oliveira', 'Pereira', 'Costa', 'Ferreira', 'Almeida', 'Carvalho', 'Sousa', 'Gomes',
  'Dubois', 'Moreau', 'Laurent', 'Girard', 'Bonnet', 'Mercier', 'Fontaine', 'Chevalier', 'Rousseau', 'Lefevre',
  'Mensah', 'Owusu', 'Boateng', 'Asante', 'Moyo', 'Ncube', 'Dube', 'Banda', 'Phiri', 'Mwangi',
  'Otieno', 'Kamau', 'Wanjiru', 'Hassan', 'Abdi', 'Osman', 'Haddad', 'Farah', 'Nasser', 'Karim',
  'Ashworth', 'Blackwood', 'Caldwell', 'Dunmore', 'Fairbairn', 'Galloway', 'Hartley', 'Kingsley', 'Lockhart', 'Pennington',
  'Radcliffe', 'Sinclair', 'Thornton', 'Underhill', 'Whitmore', 'Ainsley', 'Barlow', 'Crane', 'Draper', 'Ellery',
  'Harrow', 'Marsh', 'Vance', 'Tarrant', 'Lowell', 'Mercer', 'Holloway', 'Reyes', 'Delgado', 'Navarro',
] as const;

export const STREET_NAMES = [
  'Harbour', 'Station', 'Market', 'Church', 'Mill', 'Bridge', 'Victoria', 'Park', 'High', 'Garden',
  'School', 'Hospital', 'Lighthouse', 'Palm', 'Acacia', 'Baobab', 'Jacaranda', 'Independence', 'Unity', 'Freedom',
  'River', 'Hill', 'Ocean', 'Sunset', 'Cedar', 'Willow', 'Quarry', 'Ferry', 'Canal', 'Orchard',
] as const;

export const STREET_SUFFIXES = ['Street', 'Road', 'Avenue', 'Lane', 'Close', 'Drive', 'Way', 'Crescent'] as const;

export const VILLAGE_PREFIXES = [
  'Ash', 'Bram', 'Cold', 'Dun', 'Elder', 'Fern', 'Glen', 'Hazel', 'Iron', 'Kil', 'Lang', 'Moss', 'North', 'Oak',
  'Pine', 'Red', 'Stone', 'Thorn', 'Wester', 'Wil',
] as const;
export const VILLAGE_SUFFIXES = ['field', 'ford', 'ham', 'ley', 'moor', 'stead', 'wick', 'brook', 'well', 'combe'] as const;

/** Jobs of employed and self-employed people, by setting. */
export const URBAN_OCCUPATIONS = [
  'shop assistant', 'trader', 'driver', 'teacher', 'nurse', 'clerk', 'security guard', 'construction worker', 'cook',
  'hairdresser', 'mechanic', 'electrician', 'domestic worker', 'civil servant', 'accountant', 'software developer',
  'tailor', 'waiter', 'cleaner', 'police officer', 'plumber', 'sales representative', 'bank teller', 'pharmacist',
] as const;
export const RURAL_OCCUPATIONS = [
  'farmer', 'farmer', 'farmer', 'farm labourer', 'farm labourer', 'livestock keeper', 'fisher', 'trader', 'carpenter',
  'teacher', 'driver', 'tailor', 'mason', 'shopkeeper', 'nurse', 'domestic worker', 'charcoal seller', 'boat builder',
] as const;

export const DWELLING_TYPES = ['house', 'apartment', 'traditional house', 'shack', 'room in shared house'] as const;
export const WATER_SOURCES = ['piped into dwelling', 'public tap', 'protected well', 'unprotected well', 'surface water'] as const;
